// The function app on the Flex Consumption plan, with every app setting the app reads in Azure
// (messenger_channel/settings.py; the settings table of API.md).
//
// Every connection is identity-based: the user-assigned identity authenticates to storage,
// Service Bus, Key Vault, Web PubSub and Application Insights. No connection string, account key
// or SAS appears in the settings; the two secrets are Key Vault references.

@description('Name of the function app; also its host name, <name>.azurewebsites.net.')
param name string

@description('Name of the Flex Consumption plan (one app per plan).')
param planName string

@description('Azure region; must offer Flex Consumption.')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('Service name in azure.yaml; azd finds the app to deploy to by this tag.')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity; the Functions host and the Azure SDK (DefaultAzureCredential via AZURE_CLIENT_ID) select it with this.')
param identityClientId string

@description('Storage account of the Functions host, the app\'s tables and blobs.')
param storageAccountName string

@description('Blob endpoint of that account (https://<account>.blob.core.windows.net/).')
param storageBlobEndpoint string

@description('Queue endpoint of that account.')
param storageQueueEndpoint string

@description('Table endpoint of that account.')
param storageTableEndpoint string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Host name of the Service Bus namespace (<namespace>.servicebus.windows.net).')
param serviceBusFullyQualifiedNamespace string

@description('Key Vault URI (https://<vault>.vault.azure.net/).')
param keyVaultUri string

@description('Versionless Key Vault secret URI of the management API key.')
param managementApiKeySecretUri string

@description('Versionless Key Vault secret URI of the alert webhook URL; empty when there is none.')
param alertWebhookSecretUri string = ''

@description('WEB_PUBSUB_ENDPOINT: https://<name>.webpubsub.azure.com, reached with the app\'s identity.')
param webPubSubEndpoint string

@description('WEB_PUBSUB_HUB: the hub the console connects to.')
param webPubSubHub string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('FACEBOOK_GRAPH_URL: Graph API base with its version.')
param facebookGraphUrl string

@description('TOKEN_WARNING_DAYS: days before expiry at which a page token counts as expiring.')
@minValue(1)
@maxValue(365)
param tokenWarningDays int

@description('TOKEN_CHECK_SCHEDULE: NCRONTAB schedule of the token check timer.')
param tokenCheckSchedule string

@description('WEBHOOK_MAX_BODY_BYTES: largest webhook body accepted.')
@minValue(1)
param webhookMaxBodyBytes int

@description('SEND_ECHO_GRACE_SECONDS: how long a send of unknown outcome waits for Facebook\'s echo before it is sent again.')
@minValue(1)
@maxValue(3600)
param sendEchoGraceSeconds int

@description('QUARANTINE_RETENTION_DAYS: days a quarantined webhook body and its rows are kept.')
@minValue(1)
@maxValue(3650)
param quarantineRetentionDays int

@description('Always-ready instances for the HTTP functions (webhook, APIs, console): the webhook never waits for a cold start, which could approach Meta\'s 5-second limit.')
@minValue(1)
param alwaysReadyHttpInstances int

@description('Always-ready instances for the router (Service Bus inbound); 0 lets it scale from zero, a customer\'s first message after a quiet spell then waits for a cold start in the queue.')
@minValue(0)
param alwaysReadyRouterInstances int

@description('Always-ready instances for the sender (Service Bus outbound); 0 lets it scale from zero, an agent\'s first reply after a quiet spell then waits for a cold start in the queue.')
@minValue(0)
param alwaysReadySenderInstances int

@description('Concurrent HTTP requests per instance before Flex Consumption adds one. The platform default for Python is 1: every concurrent webhook call or console poll would take an instance of its own.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Memory of each instance in MB; CPU is allotted in proportion.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Upper bound on instances, a cap on cost and on the load the app can put on Graph (the platform minimum is 40).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Python version of the app.')
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy for Flex Consumption exists only in some regions and needs more always-ready instances; the instances are stateless and Service Bus holds the work, so a zone outage delays processing without losing messages.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:Facebook calls the webhook from the internet, so the app must be publicly reachable; every route authenticates (webhook signature, bearer keys).
  //checkov:skip=CKV_AZURE_17:Meta does not present client certificates when it calls the webhook, and agents' browsers do not either; requests are authenticated by signature or bearer key.
  //checkov:skip=CKV_AZURE_212:Flex Consumption adds instances by itself as load grows; the always-ready HTTP instances (alwaysReadyHttpInstances) are the minimum, kept at 1 by default for cost (docs/DEPLOY.md).
  //checkov:skip=CKV_AZURE_213:App Service health check replaces instances of a fixed-size plan; Flex Consumption manages its instances per function group, so /api/health is meant for an external availability test instead.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
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
    // Key Vault references resolve with the same identity as everything else.
    keyVaultReferenceIdentity: identityId
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      // docs/DEPLOY.md, "Scale and concurrency", explains each number and its cost.
      scaleAndConcurrency: {
        // One entry per scale group: 'http' is every HTTP-triggered function together; each
        // other function is a group of its own ('function:<name>'). The timers are not listed:
        // they run for seconds a minute and keep no one waiting, so they scale from zero.
        alwaysReady: [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
          {
            name: 'function:router'
            instanceCount: alwaysReadyRouterInstances
          }
          {
            name: 'function:sender'
            instanceCount: alwaysReadySenderInstances
          }
        ]
        // The Service Bus functions' concurrency is host.json's maxConcurrentSessions (both
        // queues have sessions), per instance.
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }

  // Flex Consumption reads runtime, version and scale from functionAppConfig: the settings
  // FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE and
  // SCM_DO_BUILD_DURING_DEPLOYMENT must not be set (the platform rejects them).
  resource appSettings 'config' = {
    // checkov reads this appsettings resource as if it were the site's web configuration:
    //checkov:skip=CKV_AZURE_222:Same as the site: the webhook must be reachable from Facebook.
    //checkov:skip=CKV_AZURE_13:App Service Authentication would reject Facebook's anonymous webhook calls; the app authenticates every route itself (signature over the raw body, bearer keys).
    //checkov:skip=CKV_AZURE_63:HTTP logs of App Service are not available on Flex Consumption; requests are recorded by Application Insights.
    //checkov:skip=CKV_AZURE_65:Detailed error pages are an App Service (IIS) feature; errors are recorded by Application Insights, and the app never shows stack traces to clients.
    //checkov:skip=CKV_AZURE_66:Failed request tracing is an App Service (IIS) feature; failed requests are recorded by Application Insights.
    //checkov:skip=CKV_AZURE_80:The app runs Python (functionAppConfig.runtime); there is no .NET Framework version.
    //checkov:skip=CKV_AZURE_88:Flex Consumption does not mount Azure Files for content; the package is in a blob container and state in tables and blobs.
    name: 'appsettings'
    properties: {
      // Functions host and app storage, identity-based: no connection string or key.
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
      AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
      AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // Service Bus triggers (router, sender) and the SDK sender, identity-based.
      ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
      ServiceBusConnection__credential: 'managedidentity'
      ServiceBusConnection__clientId: identityClientId
      // DefaultAzureCredential in the app's own SDK clients picks the identity from this.
      AZURE_CLIENT_ID: identityClientId
      QUEUE_BACKEND: 'servicebus'
      KEY_VAULT_URL: keyVaultUri
      PUBLIC_BASE_URL: 'https://${functionApp.properties.defaultHostName}'
      FACEBOOK_GRAPH_URL: facebookGraphUrl
      MANAGEMENT_API_KEY: '@Microsoft.KeyVault(SecretUri=${managementApiKeySecretUri})'
      ALERT_WEBHOOK_URL: empty(alertWebhookSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${alertWebhookSecretUri})'
      TOKEN_WARNING_DAYS: string(tokenWarningDays)
      TOKEN_CHECK_SCHEDULE: tokenCheckSchedule
      WEBHOOK_MAX_BODY_BYTES: string(webhookMaxBodyBytes)
      SEND_ECHO_GRACE_SECONDS: string(sendEchoGraceSeconds)
      QUARANTINE_RETENTION_DAYS: string(quarantineRetentionDays)
      // Live updates (API.md): identity-based through AZURE_CLIENT_ID; no access key exists.
      WEB_PUBSUB_ENDPOINT: webPubSubEndpoint
      WEB_PUBSUB_HUB: webPubSubHub
      // The connection string only locates the component; with local auth disabled, telemetry
      // is accepted only with the Entra ID token the authentication string asks for.
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // OpenTelemetry (host.json telemetryMode): the worker runs each invocation in the host's
      // trace context; the app exports through the Azure Monitor distro it configures itself
      // (messenger_channel/telemetry/setup.py), so PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY,
      // which would configure a second one in the worker, stays unset.
      PYTHON_ENABLE_OPENTELEMETRY: 'true'
      // The webhook, router, sender and timers are synchronous functions: the worker runs them
      // in a thread pool of min(32, CPUs + 4) threads by default (5 where the worker sees one
      // CPU, as a 2,048 MB instance has), which would queue 11 of the 16 webhook calls or
      // sessions (host.json maxConcurrentSessions) an instance is given: one thread for each.
      PYTHON_THREADPOOL_THREAD_COUNT: string(max(httpPerInstanceConcurrency, 16))
    }
  }
}

// azd and the az CLI deploy with Entra ID; basic (user name and password) publishing stays off.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output uri string = 'https://${functionApp.properties.defaultHostName}'
