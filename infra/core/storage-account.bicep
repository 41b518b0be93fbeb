// A storage account reachable with Microsoft Entra ID only: no account key is ever used or handed out.
// allowSharedKeyAccess: false refuses Shared Key and SAS requests
// (https://learn.microsoft.com/azure/storage/common/shared-key-authorization-prevent), as the
// quickstart this template follows does (Azure-Samples/durable-functions-quickstart-python-azd).

@description('Storage account name (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object = {}

@description('Blob containers to create (private).')
param containers array = []

@description('Days after its last modification a blob of deleteAfterContainers is deleted; 0: no lifecycle rule.')
@minValue(0)
param deleteAfterDays int = 0

@description('Containers whose blobs the lifecycle rule deletes.')
param deleteAfterContainers array = []

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for c in containers: {
  parent: blobService
  name: c
  properties: {
    publicAccess: 'None'
  }
}]

// Lifecycle management deletes what a run staged once it is older than deleteAfterDays; the policy runs
// about once a day, so a blob may outlive the limit by up to a day
// (https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-overview).
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (deleteAfterDays > 0) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-staged-blobs'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
                'appendBlob'
              ]
              prefixMatch: [for c in deleteAfterContainers: '${c}/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: deleteAfterDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
