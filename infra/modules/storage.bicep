// The one storage account: the pipeline's data containers (DESIGN.md storage layout), the Functions host and
// Durable Task state (queues, tables and lease blobs the runtime creates itself), the Flex Consumption deployment
// package, and Event Grid's dead letters. Shared keys are disabled: every caller authenticates with Entra ID.

@description('Region of the account.')
param location string

@description('Tags applied to every resource.')
param tags object

@minLength(3)
@maxLength(24)
@description('Storage account name (3-24 lowercase letters and digits).')
param name string

@description('Data containers of the pipeline, from DESIGN.md.')
param dataContainers string[]

@description('Container that holds the Function App deployment package (Flex Consumption).')
param deploymentContainerName string

@description('Container where Event Grid writes BlobCreated events it could not deliver.')
param deadLetterContainerName string

@minValue(1)
@maxValue(365)
@description('Days a deleted blob or container stays recoverable: bad deletes never lose uploads or models.')
param softDeleteDays int = 7

resource account 'Microsoft.Storage/storageAccounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-06-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = [
  for container in concat(dataContainers, [deploymentContainerName, deadLetterContainerName]): {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
