// Deploys the Messenger channel: a resource group with the Flex Consumption function app, its
// storage, Service Bus queues, Key Vault, Web PubSub (the console's live updates), monitoring
// and role assignments.
//
// azd up (azure.yaml at the repository root) or:
//   az deployment sub create --location <region> --template-file infra/main.bicep \
//     --parameters environmentName=<env> location=<region> managementApiKey=<key>
// Parameters are documented in infra/README.md; the Facebook steps after it in docs/DEPLOY.md.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd: AZURE_ENV_NAME); names the resource group and seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; it must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user or service principal (azd: AZURE_PRINCIPAL_ID); granted read access to the management key. Empty: no grant.')
param principalId string = ''

@description('Kind of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Resource group to create; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@secure()
@minLength(16)
@description('The operators\' bearer key for /api/manage, stored in Key Vault as management-api-key (azd generates one on first provision, see infra/hooks).')
param managementApiKey string

@secure()
@description('ALERT_WEBHOOK_URL: where token-health alerts are posted; stored in Key Vault. Empty: no alerts.')
param alertWebhookUrl string = ''

@description('FACEBOOK_GRAPH_URL: Graph API base with its version.')
param facebookGraphUrl string = 'https://graph.facebook.com/v25.0'

@minValue(1)
@maxValue(365)
@description('TOKEN_WARNING_DAYS: a page token expiring within this many days is reported as expiring.')
param tokenWarningDays int = 14

@description('TOKEN_CHECK_SCHEDULE: NCRONTAB schedule (six fields, UTC) of the token check.')
param tokenCheckSchedule string = '0 0 */6 * * *'

@minValue(1)
@description('WEBHOOK_MAX_BODY_BYTES: largest webhook body accepted (413 above).')
param webhookMaxBodyBytes int = 4194304

@minValue(1)
@maxValue(3600)
@description('SEND_ECHO_GRACE_SECONDS: how long a reply whose send has an unknown outcome waits for Facebook\'s echo before it is sent again.')
param sendEchoGraceSeconds int = 60

@minValue(1)
@maxValue(3650)
@description('QUARANTINE_RETENTION_DAYS: days a quarantined webhook body and its rows are kept.')
param quarantineRetentionDays int = 30

@minValue(1)
@description('Always-ready instances for the HTTP functions, so that Meta\'s webhook calls never wait for a cold start.')
param alwaysReadyHttpInstances int = 1

@minValue(0)
@description('Always-ready instances for the router (inbound queue); 0 scales from zero: the first customer message after a quiet spell waits for a cold start, nothing is lost.')
param alwaysReadyRouterInstances int = 0

@minValue(0)
@description('Always-ready instances for the sender (outbound queue); 0 scales from zero: the first reply after a quiet spell waits for a cold start, nothing is lost.')
param alwaysReadySenderInstances int = 0

@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests per instance (Python\'s platform default is 1). The HTTP functions wait on storage and Service Bus, not CPU: 16 per 2,048 MB instance; about one per 128 MB of instanceMemoryMB.')
param httpPerInstanceConcurrency int = 16

@allowed([
  512
  2048
  4096
])
@description('Memory per function app instance in MB (CPU in proportion); also the GB in every GB-second billed.')
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
@description('Most instances the app may scale out to.')
param maximumInstanceCount int = 100

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Days each daily audit-log export stays immutable (time-based retention, WORM).')
@minValue(1)
param auditRetentionDays int = 365

@description('Replication of the storage account (tables, attachments, webhook archive).')
param storageSkuName string = 'Standard_LRS'

@minValue(30)
@maxValue(730)
@description('Days Log Analytics keeps logs and telemetry.')
param logRetentionInDays int = 30

@allowed([
  'Free_F1'
  'Standard_S1'
])
@description('Web PubSub tier of the console\'s live updates: Free_F1 (20 concurrent connections, 20,000 messages a day, no SLA) or Standard_S1 (per unit 1,000 connections, 1,000,000 messages a day, SLA).')
param webPubSubSku string = 'Free_F1'

@allowed([
  1
  2
  3
  4
  5
  6
  7
  8
  9
  10
  20
  30
  40
  50
  60
  70
  80
  90
  100
])
@description('Web PubSub units when webPubSubSku is Standard_S1, each 1,000 concurrent connections; Free_F1 has one.')
param webPubSubCapacity int = 1

@minLength(1)
@description('WEB_PUBSUB_HUB: the Web PubSub hub the console connects to.')
param webPubSubHub string = 'console'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'
// One package container per app, named as in the azd Flex Consumption templates.
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
var attachmentsContainerName = 'attachments'
var webhookArchiveContainerName = 'webhook-archive'
var quarantineContainerName = 'quarantine'
// The daily copy of the audit log (privacy/audit_export.py): write once, kept immutable.
var auditExportContainerName = 'audit-export'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-func-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    containerNames: [
      deploymentContainerName
      attachmentsContainerName
      webhookArchiveContainerName
      quarantineContainerName
      auditExportContainerName
    ]
    immutableContainerNames: [
      auditExportContainerName
    ]
    immutabilityDays: auditRetentionDays
    coolTierContainerNames: [
      webhookArchiveContainerName
      quarantineContainerName
    ]
  }
}

module serviceBus 'app/service-bus.bicep' = {
  name: 'serviceBus'
  scope: rg
  params: {
    name: 'sb-${resourceToken}'
    location: location
    tags: tags
  }
}

module webPubSub 'app/web-pubsub.bicep' = {
  name: 'webPubSub'
  scope: rg
  params: {
    name: 'wps-${resourceToken}'
    location: location
    tags: tags
    skuName: webPubSubSku
    capacity: webPubSubCapacity
    hubName: webPubSubHub
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

module keyVault 'core/security/key-vault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

module secrets 'app/secrets.bicep' = {
  name: 'secrets'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    managementApiKey: managementApiKey
    alertWebhookUrl: alertWebhookUrl
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    webPubSubName: webPubSub.outputs.name
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'functionApp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.primaryBlobEndpoint
    storageQueueEndpoint: storage.outputs.primaryQueueEndpoint
    storageTableEndpoint: storage.outputs.primaryTableEndpoint
    deploymentContainerName: deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultUri: keyVault.outputs.uri
    managementApiKeySecretUri: secrets.outputs.managementApiKeySecretUri
    alertWebhookSecretUri: secrets.outputs.alertWebhookSecretUri
    webPubSubEndpoint: webPubSub.outputs.endpoint
    webPubSubHub: webPubSub.outputs.hubName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    facebookGraphUrl: facebookGraphUrl
    tokenWarningDays: tokenWarningDays
    tokenCheckSchedule: tokenCheckSchedule
    webhookMaxBodyBytes: webhookMaxBodyBytes
    sendEchoGraceSeconds: sendEchoGraceSeconds
    quarantineRetentionDays: quarantineRetentionDays
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    alwaysReadyRouterInstances: alwaysReadyRouterInstances
    alwaysReadySenderInstances: alwaysReadySenderInstances
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The app starts with its roles in place: the host reaches storage and Service Bus, the Key
  // Vault references resolve and Web PubSub accepts the app's calls on first start instead of
  // failing until the next restart.
  dependsOn: [
    rbac
  ]
}

// Upper-case outputs become azd environment values (azd env get-values).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = functionApp.outputs.uri
output PUBLIC_BASE_URL string = functionApp.outputs.uri
// Append the account id: https://<app>/api/facebook/webhook/<account_id> is the Callback URL.
output WEBHOOK_CALLBACK_BASE string = '${functionApp.outputs.uri}/api/facebook/webhook/'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URL string = keyVault.outputs.uri
output MANAGEMENT_API_KEY_SECRET_NAME string = secrets.outputs.managementApiKeySecretName
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_WEB_PUBSUB_NAME string = webPubSub.outputs.name
output WEB_PUBSUB_ENDPOINT string = webPubSub.outputs.endpoint
output WEB_PUBSUB_HUB string = webPubSub.outputs.hubName
