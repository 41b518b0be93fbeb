// Key Vault for the source credentials (the WORKetc API password). Access is by Azure RBAC only
// (enableRbacAuthorization: no access policies,
// https://learn.microsoft.com/azure/key-vault/general/rbac-guide): the Function App's identity reads
// secrets (Key Vault Secrets User), the deployer sets them (Key Vault Secrets Officer); see rbac/.
// The template creates no secret: a password never passes through azd or a deployment.

@minLength(3)
@maxLength(24)
param name string

param location string
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
