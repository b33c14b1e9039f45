// The secrets this deployment puts in Key Vault. App secrets and page tokens are written later by
// the app itself (Key Vault Secrets Officer); the function app reads these two through
// Key Vault references, so their values never appear in app settings.

@description('Name of the existing Key Vault.')
param keyVaultName string

@description('Operators\' bearer key for /api/manage (MANAGEMENT_API_KEY).')
@secure()
@minLength(16)
param managementApiKey string

@description('Alert target URL (ALERT_WEBHOOK_URL); it often embeds a token, so it is kept as a secret. Empty: no secret is created.')
@secure()
param alertWebhookUrl string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource managementKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:Operators rotate the key (docs/DEPLOY.md); an expiry date would not rotate it, only risk locking them out of /api/manage when it passes.
  parent: vault
  name: 'management-api-key'
  properties: {
    value: managementApiKey
    contentType: 'text/plain'
  }
}

resource alertWebhook 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(alertWebhookUrl)) {
  //checkov:skip=CKV_AZURE_41:The URL is the operator's alert endpoint and changes only when they change it; an expiry date would silently stop token-health alerts.
  //checkov:skip=CKV_AZURE_114:contentType is set below; checkov does not read the body of a conditional (if) resource.
  parent: vault
  name: 'alert-webhook-url'
  properties: {
    value: alertWebhookUrl
    contentType: 'text/uri-list'
  }
}

output managementApiKeySecretName string = managementKey.name
// Versionless URIs: a Key Vault reference to them follows rotations (the platform re-reads
// within 24 hours, or at once when the app restarts).
output managementApiKeySecretUri string = managementKey.properties.secretUri
output alertWebhookSecretUri string = empty(alertWebhookUrl) ? '' : '${vault.properties.vaultUri}secrets/${alertWebhook.name}'
