// The migration engine in the customer's Azure subscription, for `azd up` (azure.yaml at the repository
// root; the steps, and what Bicep cannot do, are in infra/README.md). Modelled on
// Azure-Samples/durable-functions-quickstart-python-azd: a Flex Consumption Function App, one
// user-assigned managed identity, identity-based host storage and RBAC role assignments as modules.
// No account key, connection string with a key, or password is created, output or stored in a setting:
// every storage account refuses Shared Key, and the one source password lives in Key Vault.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and, hashed, every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource; Flex Consumption regions: az functionapp list-flexconsumption-locations.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person running azd (azd sets AZURE_PRINCIPAL_ID): may upload exports, read staging and reports, set the Key Vault secret. Empty: nobody.')
param principalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@minLength(1)
@description('The Dataverse environment runs write to (DATAVERSE_URL), e.g. https://contoso.crm.dynamics.com.')
param dataverseUrl string

@description('Further Dataverse environments a request may pick (DATAVERSE_URLS), comma-separated.')
param dataverseUrls string = ''

@description('The SharePoint site of the environment\'s document management (SHAREPOINT_SITE_URL); empty: no documents.')
param sharePointSiteUrl string = ''

@description('WORKetc WSDL URL for worketc-soap runs (WORKETC_WSDL_URL), https://<alias>.worketc.com/xml?wsdl; empty: none.')
param worketcWsdlUrl string = ''

@description('The WORKetc API login (WORKETC_EMAIL); its password goes into Key Vault (infra/README.md).')
param worketcEmail string = ''

@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
@description('Durable Functions backend: the Azure Storage provider (host storage) or a Durable Task Scheduler.')
param durableStorageProvider string = 'AzureStorage'

@minValue(7)
@maxValue(3650)
@description('Days after their last change that staged blobs, reports and uploaded exports are deleted; keep it longer than a run including its map approval wait (7 days by default).')
param stagingRetentionDays int = 30

@minValue(1)
@maxValue(1000)
@description('Most Function App instances at once (Flex Consumption).')
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
@description('Memory per Flex Consumption instance (MB).')
param instanceMemoryMB int = 2048

@description('Client id of an Entra app registration for Easy Auth in front of the HTTP API; empty: function keys only.')
param authClientId string = ''

@description('Object ids (comma-separated) allowed through Easy Auth.')
param authAllowedPrincipalIds string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var useScheduler = durableStorageProvider == 'DurableTaskScheduler'
var stagingContainer = 'staging'
var importsContainer = 'imports'
var deploymentContainer = 'app-package'
var worketcPasswordSecretName = 'worketc-password'

// Built-in roles (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-migration-${resourceToken}'
    location: location
    tags: tags
  }
}

// Host storage: AzureWebJobsStorage, the Durable Azure Storage provider's queues and tables, and the
// deployment package container.
module hostStorage 'core/storage-account.bicep' = {
  name: 'hostStorage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    containers: [
      deploymentContainer
    ]
  }
}

// Staging: what runs extract, transform and report (container staging) and the uploaded exports
// (container imports), deleted stagingRetentionDays after their last change.
module stagingStorage 'core/storage-account.bicep' = {
  name: 'stagingStorage'
  scope: rg
  params: {
    name: 'stg${resourceToken}'
    location: location
    tags: tags
    containers: [
      stagingContainer
      importsContainer
    ]
    deleteAfterDays: stagingRetentionDays
    deleteAfterContainers: [
      stagingContainer
      importsContainer
    ]
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'core/key-vault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

module scheduler 'core/durable-task-scheduler.bicep' = if (useScheduler) {
  name: 'durableTaskScheduler'
  scope: rg
  params: {
    name: 'dts-${resourceToken}'
    location: location
    tags: tags
    taskHubName: 'migrationhub'
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'functionApp'
  scope: rg
  params: {
    name: 'func-migration-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostStorageAccountName: hostStorage.outputs.name
    deploymentContainerName: deploymentContainer
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    dataverseUrl: dataverseUrl
    dataverseUrls: dataverseUrls
    sharePointSiteUrl: sharePointSiteUrl
    worketcWsdlUrl: worketcWsdlUrl
    worketcEmail: worketcEmail
    keyVaultUri: keyVault.outputs.uri
    worketcPasswordSecretName: worketcPasswordSecretName
    stagingContainerUrl: '${stagingStorage.outputs.blobEndpoint}${stagingContainer}'
    durableTaskSchedulerEndpoint: useScheduler ? scheduler.outputs.endpoint : ''
    durableTaskHubName: useScheduler ? scheduler.outputs.taskHubName : ''
    authClientId: authClientId
    authAllowedPrincipalIds: authAllowedPrincipalIds
  }
}

// ------------------------------------------------------------------------------- role assignments
// The managed identity: host storage as the quickstart grants it (blob owner; queues and tables for the
// Azure Storage provider), staging read/write, Key Vault secrets read, the scheduler when chosen.

module hostStorageRoles 'rbac/storage.bicep' = {
  name: 'hostStorageRoles'
  scope: rg
  params: {
    storageAccountName: hostStorage.outputs.name
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionIds: useScheduler ? [
      roles.storageBlobDataOwner
    ] : [
      roles.storageBlobDataOwner
      roles.storageQueueDataContributor
      roles.storageTableDataContributor
    ]
  }
}

module stagingRoles 'rbac/storage.bicep' = {
  name: 'stagingRoles'
  scope: rg
  params: {
    storageAccountName: stagingStorage.outputs.name
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionIds: [
      roles.storageBlobDataContributor
    ]
  }
}

module keyVaultRoles 'rbac/key-vault.bicep' = {
  name: 'keyVaultRoles'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionIds: [
      roles.keyVaultSecretsUser
    ]
  }
}

module schedulerRoles 'rbac/scheduler.bicep' = if (useScheduler) {
  name: 'schedulerRoles'
  scope: rg
  params: {
    schedulerName: useScheduler ? scheduler.outputs.name : ''
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionIds: [
      roles.durableTaskDataContributor
    ]
  }
}

// The person running azd: uploads exports and reads reports (staging), sets the WORKetc password (Key
// Vault), watches orchestrations on the scheduler's dashboard.

module deployerStagingRoles 'rbac/storage.bicep' = if (!empty(principalId)) {
  name: 'deployerStagingRoles'
  scope: rg
  params: {
    storageAccountName: stagingStorage.outputs.name
    principalId: principalId
    principalType: principalType
    roleDefinitionIds: [
      roles.storageBlobDataContributor
    ]
  }
}

module deployerKeyVaultRoles 'rbac/key-vault.bicep' = if (!empty(principalId)) {
  name: 'deployerKeyVaultRoles'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    principalId: principalId
    principalType: principalType
    roleDefinitionIds: [
      roles.keyVaultSecretsOfficer
    ]
  }
}

module deployerSchedulerRoles 'rbac/scheduler.bicep' = if (useScheduler && !empty(principalId)) {
  name: 'deployerSchedulerRoles'
  scope: rg
  params: {
    schedulerName: useScheduler ? scheduler.outputs.name : ''
    principalId: principalId
    principalType: principalType
    roleDefinitionIds: [
      roles.durableTaskDataContributor
    ]
  }
}

// azd keeps these in the environment (azd env get-values); infra/README.md uses them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = functionApp.outputs.url
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output STAGING_ACCOUNT_NAME string = stagingStorage.outputs.name
output STAGING_CONTAINER_URL string = '${stagingStorage.outputs.blobEndpoint}${stagingContainer}'
output KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output DURABLE_TASK_SCHEDULER_NAME string = useScheduler ? scheduler.outputs.name : ''
