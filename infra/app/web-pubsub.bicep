// Azure Web PubSub: pushes the console's live hints (offers, messages, delivery ticks, queue
// figures) to agents and supervisors over plain WebSockets (API.md, "Live updates").
//
// Identity only: access keys are disabled, so no connection string exists. The app's identity
// holds Web PubSub Service Owner on this resource (app/rbac.bicep); it publishes with it and
// asks the service for each console's short-lived client access token (GET /api/agent/negotiate).
// Clients never send anything the app must handle, so the hub has no event handler: the service
// never calls out, and needs no identity of its own.
//
// Free tier by default (1 unit, 20 concurrent connections, 20,000 outbound messages a day, no
// SLA); Standard_S1 with a unit count for production (docs/DEPLOY.md, section 6). Hints are not
// the truth: when the service refuses a connection or a message, the console falls back to
// polling and catches up from the REST routes.

@description('Globally unique service name (3-63 letters, digits and hyphens); also its host name, <name>.webpubsub.azure.com.')
@minLength(3)
@maxLength(63)
param name string

@description('Azure region of the service.')
param location string

@description('Tags applied to the service.')
param tags object = {}

@description('Free_F1: one unit, 20 concurrent connections, 20,000 outbound messages a day, no SLA. Standard_S1: per unit 1,000 connections and 1,000,000 messages a day included, with an SLA.')
@allowed([
  'Free_F1'
  'Standard_S1'
])
param skuName string = 'Free_F1'

@description('Units of Standard_S1 (each 1,000 concurrent connections); Free_F1 always has exactly one.')
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
param capacity int = 1

@description('Hub the console connects to (WEB_PUBSUB_HUB): letters, digits and underscores, starting with a letter.')
@minLength(1)
param hubName string = 'console'

@description('Resource id of the Log Analytics workspace that receives the service\'s resource logs and metrics.')
param logAnalyticsWorkspaceId string

@description('Also send MessagingLogs (one record per message in and out) to Log Analytics. Off by default: at a million hints a day they cost more in ingestion than the service itself; turn on to trace a missing hint.')
param messagingLogs bool = false

var isFree = skuName == 'Free_F1'

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  //checkov:skip=CKV_AZURE_175:Free_F1 is only the default, for trials and small teams; webPubSubSku=Standard_S1 gives the SLA. Pushed hints are an optimisation: without the service the console polls the REST routes, which stay the truth.
  //checkov:skip=CKV_AZURE_176:The service calls nothing: the hub has no event handler or listener and no custom domain certificate, so a managed identity of its own would have no use; the app reaches the service with the app's identity.
  name: name
  location: location
  tags: tags
  kind: 'WebPubSub'
  sku: {
    name: skuName
    tier: isFree ? 'Free' : 'Standard'
    capacity: isFree ? 1 : capacity
  }
  properties: {
    // No access keys: the app authenticates with Entra ID, and client tokens are issued by the
    // service's generateToken API to that identity, so there is no key that could leak.
    disableLocalAuth: true
    disableAadAuth: false
    // Agents' browsers connect from anywhere, as to the function app; every connection needs a
    // token the app issued, and the REST API an Entra ID token with the role.
    publicNetworkAccess: 'Enabled'
    tls: {
      // Browsers present no client certificate.
      clientCertEnabled: false
    }
    // Live trace would bill its logs as outbound messages (the Free tier's daily 20,000 included);
    // resource logs go to Log Analytics instead.
    liveTraceConfiguration: {
      enabled: 'false'
    }
    resourceLogConfiguration: {
      categories: [
        {
          name: 'ConnectivityLogs'
          enabled: 'true'
        }
        {
          name: 'MessagingLogs'
          enabled: messagingLogs ? 'true' : 'false'
        }
      ]
    }
  }
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    // Only a client holding a token from /api/agent/negotiate may connect.
    anonymousConnectPolicy: 'deny'
    eventHandlers: []
    eventListeners: []
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'log-analytics'
  scope: webPubSub
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'ConnectivityLogs'
        enabled: true
      }
      {
        category: 'HttpRequestLogs'
        enabled: true
      }
      {
        category: 'MessagingLogs'
        enabled: messagingLogs
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = webPubSub.name
output id string = webPubSub.id
output hostName string = webPubSub.properties.hostName
// WEB_PUBSUB_ENDPOINT: https://<name>.webpubsub.azure.com, from the service's own host name so
// that sovereign clouds get their own suffix.
output endpoint string = 'https://${webPubSub.properties.hostName}'
output hubName string = hub.name
