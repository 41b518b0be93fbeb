// The user-assigned managed identity the Function App runs as: the host's storage, staging, Key Vault,
// Dataverse (as an application user) and Microsoft Graph (Sites.Selected) all know this one identity.
// User-assigned, as in the quickstart: it outlives the app and can be registered in Dataverse before
// the code is deployed (https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/overview).

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
