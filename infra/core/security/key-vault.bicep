// Key Vault for the app secrets, page access tokens and the management API key.
//
// Access is by Azure RBAC only (no access policies). Soft delete and purge protection keep a
// deleted secret recoverable for softDeleteRetentionInDays: a page token deleted by mistake, or
// by an attacker, can be restored and cannot be purged before then.

@description('Globally unique vault name (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Days a deleted vault or secret stays recoverable (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109:The Flex Consumption app is not VNet-integrated and has no fixed outbound address to allow, so the vault accepts every network; access needs an Entra ID token and an RBAC role.
  //checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109: public network access is needed without VNet integration; authorisation is Azure RBAC only.
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
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
