// The Function App on a Flex Consumption plan (FC1, Linux, Python 3.11), running as the user-assigned
// managed identity, with every app setting the engine and the host need. Modelled on
// Azure-Samples/durable-functions-quickstart-python-azd (infra/app/api.bicep), without registry modules
// so that every resource and its API version is in this repository.
//
// Why Flex Consumption: host.json sets functionTimeout 00:30:00; the Consumption plan allows 10 minutes
// at most, Flex Consumption and Premium 30 by default and no maximum
// (https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout). Premium would also need a
// keyed Azure Files content share (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING), which this template does
// not create: see infra/README.md, "Hosting plans".

param name string
param planName string
param location string
param tags object = {}

@description('Resource id and client id of the user-assigned managed identity the app runs as.')
param identityId string
param identityClientId string

@description('Host storage (AzureWebJobsStorage, Durable Azure Storage provider, deployment packages).')
param hostStorageAccountName string
param deploymentContainerName string

param applicationInsightsName string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  2048
  4096
])
param instanceMemoryMB int

@description('DATAVERSE_URL: the Dataverse environment runs write to.')
param dataverseUrl string

@description('DATAVERSE_URLS: further environments a request may pick, comma-separated.')
param dataverseUrls string

@description('SHAREPOINT_SITE_URL: the site of the environment\'s document management (documents need it).')
param sharePointSiteUrl string

@description('WORKETC_WSDL_URL and WORKETC_EMAIL: the WORKetc tenant for worketc-soap runs; empty: none.')
param worketcWsdlUrl string
param worketcEmail string

@description('Key Vault URI (https://<vault>.vault.azure.net/) and the name of the WORKetc password secret.')
param keyVaultUri string
param worketcPasswordSecretName string

@description('STAGING_CONNECTION: the staging container URL; the engine reaches it with the managed identity.')
param stagingContainerUrl string

@description('Durable Task Scheduler endpoint and task hub; empty: the Azure Storage provider (host.json).')
param durableTaskSchedulerEndpoint string
param durableTaskHubName string

@description('Client id of the Entra app registration protecting the HTTP API (Easy Auth); empty: function keys only.')
param authClientId string

@description('Object ids (comma-separated) of the people and apps allowed through Easy Auth.')
param authAllowedPrincipalIds string

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// What the engine reads (README.md, "Every setting"): where it may read and write, and how it
// authenticates. A request may only pick among these (shared/settings.py).
var engineSettings = union(
  {
    DATAVERSE_URL: dataverseUrl
    DATAVERSE_USE_MANAGED_IDENTITY: 'true'
    DATAVERSE_MANAGED_IDENTITY_CLIENT_ID: identityClientId
    // A container URL: open_staging reaches it with DefaultAzureCredential (shared/staging/location.py),
    // never with a key; run settings carry the setting's name only.
    STAGING_CONNECTION: stagingContainerUrl
  },
  empty(dataverseUrls) ? {} : {
    DATAVERSE_URLS: dataverseUrls
  },
  empty(sharePointSiteUrl) ? {} : {
    SHAREPOINT_SITE_URL: sharePointSiteUrl
  },
  empty(worketcWsdlUrl) ? {} : {
    WORKETC_WSDL_URL: worketcWsdlUrl
    WORKETC_EMAIL: worketcEmail
    // A Key Vault reference: App Service resolves it with keyVaultReferenceIdentity below and hands the
    // engine the plain value (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references).
    // Versionless, so a new version is picked up within 24 hours, or at once on a refresh (infra/README.md).
    WORKETC_PASSWORD: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${worketcPasswordSecretName})'
  }
)

// What the Functions host and the Azure SDK read.
var hostSettings = {
  // Identity-based host storage: no connection string, no key
  // (https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
  AzureWebJobsStorage__accountName: hostStorage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // DefaultAzureCredential picks the user-assigned identity by its client id
  // (https://learn.microsoft.com/python/api/azure-identity/azure.identity.defaultazurecredential).
  AZURE_CLIENT_ID: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  // host.json sets telemetryMode OpenTelemetry; this lets the Python worker send its own logs and traces
  // (https://learn.microsoft.com/azure/azure-functions/opentelemetry-howto).
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
}

// The Durable Task Scheduler, when chosen, replaces host.json's storage provider through app settings
// (AzureFunctionsJobHost__path__to__setting overrides host.json:
// https://learn.microsoft.com/azure/azure-functions/functions-host-json#override-hostjson-values), so
// host.json stays the same for both providers. The connection names the identity; it holds no secret.
var schedulerSettings = empty(durableTaskSchedulerEndpoint) ? {} : {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
  AzureFunctionsJobHost__extensions__durableTask__hubName: durableTaskHubName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity, not a system-assigned one
    // (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#access-vaults-with-a-user-assigned-identity).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(engineSettings, schedulerSettings, hostSettings)
}

// No publishing user name and password: deployments authenticate with Microsoft Entra ID
// (https://learn.microsoft.com/azure/app-service/configure-basic-auth-disable).
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

// Optional Easy Auth in front of the function keys: a caller also needs an Entra token for the app
// registration, and only the listed principals get through
// (https://learn.microsoft.com/azure/app-service/configure-authentication-provider-aad). The engine records
// the approver's object id (x-ms-client-principal-id) in the report.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(authClientId)) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
          defaultAuthorizationPolicy: empty(authAllowedPrincipalIds) ? null : {
            allowedPrincipals: {
              identities: split(authAllowedPrincipalIds, ',')
            }
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
