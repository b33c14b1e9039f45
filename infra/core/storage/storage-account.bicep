// Storage account for the Functions host, the app's tables and its blob containers.
//
// Entra ID is the only way in: shared-key access is off, so no connection string or account key
// exists that could leak; the function app and operators authenticate with role assignments.

@description('Globally unique storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Replication of the account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

@description('Blob containers to create; all private.')
param containerNames array

@description('Containers (among containerNames) whose blobs are immutable for immutabilityDays.')
param immutableContainerNames array = []

@description('Days a blob of an immutable container can be neither changed nor deleted.')
param immutabilityDays int = 365

@description('Containers whose blobs move to the Cool tier after coolAfterDays without modification (archives that are rarely read again).')
param coolTierContainerNames array = []

@description('Days after the last modification before blobs of coolTierContainerNames move to Cool.')
@minValue(1)
param coolAfterDays int = 30

@description('Days a deleted blob or container can still be restored.')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:The Flex Consumption app is not VNet-integrated and reaches storage over the public endpoint; every request still needs an Entra ID token, since shared-key access is disabled.
  //checkov:skip=CKV_AZURE_59:Public network access is needed without VNet integration (see CKV_AZURE_35); anonymous blob access and shared keys are both disabled.
  //checkov:skip=CKV_AZURE_206:Replication is the storageSkuName parameter; LRS is the default because it exists in every Flex Consumption region (ZRS and GRS do not).
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

// The audit log's daily exports: no one (the app, an operator, an attacker with the app's
// identity) can change or delete a blob before its days are over. Created unlocked, so the
// period can still be changed; DEPLOY.md says how to lock it for good.
resource immutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = [for (containerName, index) in immutableContainerNames: {
  #disable-next-line use-parent-property
  name: '${storage.name}/default/${containerName}/default'
  properties: {
    immutabilityPeriodSinceCreationInDays: immutabilityDays
    allowProtectedAppendWrites: false
  }
  dependsOn: [
    containers
  ]
}]

// The app creates its tables at run time (Storage Table Data Contributor allows it).
resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Archived webhooks and quarantined payloads are written once and read only for a replay or an
// investigation: Cool storage costs about half of Hot for them.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (!empty(coolTierContainerNames)) {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'cool-rarely-read-archives'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [for containerName in coolTierContainerNames: '${containerName}/']
            }
            actions: {
              baseBlob: {
                tierToCool: {
                  daysAfterModificationGreaterThan: coolAfterDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

output name string = storage.name
output id string = storage.id
output primaryBlobEndpoint string = storage.properties.primaryEndpoints.blob
output primaryQueueEndpoint string = storage.properties.primaryEndpoints.queue
output primaryTableEndpoint string = storage.properties.primaryEndpoints.table
