// A user-assigned managed identity.
//
// The function app runs as this identity rather than a system-assigned one: the identity exists
// before the app, so its role assignments (storage, Service Bus, Key Vault) are in place when the
// app first starts and resolves its Key Vault references, instead of racing the app's creation.

@description('Name of the identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
