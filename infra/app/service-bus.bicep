// Service Bus namespace with the app's two queues.
//
// Standard tier: sessions and duplicate detection, which both queues need, are not in Basic.
// Queue properties are those of messenger_channel/bus/queues.py (the local adapter keeps the same
// semantics); tests/infra/test_bicep.py fails when the two disagree.

@description('Globally unique namespace name (6-50 letters, digits and hyphens).')
@minLength(6)
@maxLength(50)
param name string

@description('Azure region of the namespace.')
param location string

@description('Tags applied to the namespace.')
param tags object = {}

@description('How long an unprocessed message may wait before it is dead-lettered (ISO 8601 duration). Long enough to outlast any outage of the functions; a dead-lettered message can be redriven.')
param messageTimeToLive string = 'P14D'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    minimumTlsVersion: '1.2'
    // No SAS keys: the app connects with its managed identity only, so there is no connection
    // string to leak.
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

// Customer events from the webhook, one session per customer ({page_id}:{psid}) so the router
// handles each conversation in order.
resource inboundQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'inbound'
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    // Meta retries a failed delivery for hours; a day of duplicate detection covers that.
    duplicateDetectionHistoryTimeWindow: 'P1D'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    enablePartitioning: false
    enableBatchedOperations: true
  }
}

// Agent replies to send, one session per conversation so replies leave in order.
resource outboundQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'outbound'
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    enablePartitioning: false
    enableBatchedOperations: true
  }
}

output name string = namespace.name
output id string = namespace.id
// The host name the SDK and the Functions trigger connect to (e.g. sb-x.servicebus.windows.net),
// taken from the endpoint so that sovereign clouds get their own suffix.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
