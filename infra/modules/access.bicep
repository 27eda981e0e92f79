// Every role assignment of the deployment, in one place, each at the narrowest scope that works:
//
//   who                     role                              scope                         why
//   Function App identity   Storage Blob Data Owner           storage account               Functions host storage (keys, leases), Durable lease blobs, pipeline data
//   Function App identity   Storage Queue Data Contributor    storage account               Durable control/work-item queues, blob trigger poison queue
//   Function App identity   Storage Table Data Contributor    storage account               Durable history and instance tables
//   Function App identity   Monitoring Metrics Publisher      Application Insights          telemetry with local auth disabled
//   Function App identity   Container Apps Jobs Operator      the trainer job only          start an execution, read its status, stop it
//   trainer identity        Storage Blob Data Reader          each container it reads       dataset shards, labelled sets
//   trainer identity        Storage Blob Data Contributor     each container it writes      checkpoints, results, exported models
//   trainer identity        AcrPull                           the registry                  pull the trainer image
//   Event Grid topic        Storage Blob Data Contributor     the dead-letter container     keep events it could not deliver
//   uploader (optional)     Storage Blob Data Contributor     the unlabeled container       upload data with `az storage blob upload --auth-mode login`
//
// Container Apps Jobs Operator (built in: read, start and stop Container Apps jobs) is preferred to a custom role
// with Microsoft.App/jobs/start/action: Microsoft maintains its action list as the jobs API grows (executions,
// stop), a custom role needs Microsoft.Authorization/roleDefinitions/write from whoever deploys, and the scope (one
// job, which holds no secrets) is what bounds it.

@description('Storage account of the pipeline.')
param storageAccountName string

@description('Containers the trainer reads.')
param trainerReadContainers string[]

@description('Containers the trainer writes.')
param trainerWriteContainers string[]

@description('Container user uploads land in.')
param uploadContainerName string

@description('Container Event Grid dead-letters into.')
param deadLetterContainerName string

@description('Container registry of the trainer image.')
param registryName string

@description('Trainer Container Apps job.')
param trainerJobName string

@description('Application Insights component.')
param applicationInsightsName string

@description('Principal id of the Function App identity.')
param functionsPrincipalId string

@description('Principal id of the trainer job identity.')
param trainerPrincipalId string

@description('Principal id of the Event Grid system topic identity.')
param eventGridPrincipalId string

@description('Principal id of a person or pipeline allowed to upload to the unlabeled container; empty for none.')
param uploaderPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('Kind of principal uploaderPrincipalId is.')
param uploaderPrincipalType string = 'User'

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  containerAppsJobsOperator: 'b9a307c4-5aa3-4b52-ba60-2b17c136cd7b'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource uploads 'containers' existing = {
      name: uploadContainerName
    }

    resource deadLetters 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

resource trainerReads 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' existing = [
  for container in trainerReadContainers: {
    parent: storage::blobService
    name: container
  }
]

resource trainerWrites 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' existing = [
  for container in trainerWriteContainers: {
    parent: storage::blobService
    name: container
  }
]

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

resource trainerJob 'Microsoft.App/jobs@2025-07-01' existing = {
  name: trainerJobName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource functionsBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionsPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionsQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionsPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionsTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionsPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionsTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, functionsPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionsStartsTrainer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(trainerJob.id, functionsPrincipalId, roles.containerAppsJobsOperator)
  scope: trainerJob
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.containerAppsJobsOperator)
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource trainerReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in trainerReadContainers: {
    name: guid(trainerReads[i].id, trainerPrincipalId, roles.storageBlobDataReader)
    scope: trainerReads[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
      principalId: trainerPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource trainerWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in trainerWriteContainers: {
    name: guid(trainerWrites[i].id, trainerPrincipalId, roles.storageBlobDataContributor)
    scope: trainerWrites[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
      principalId: trainerPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource trainerPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, trainerPrincipalId, roles.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: trainerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource eventGridDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobService::deadLetters.id, eventGridPrincipalId, roles.storageBlobDataContributor)
  scope: storage::blobService::deadLetters
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource uploader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(uploaderPrincipalId)) {
  name: guid(storage::blobService::uploads.id, uploaderPrincipalId, roles.storageBlobDataContributor)
  scope: storage::blobService::uploads
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: uploaderPrincipalId
    principalType: uploaderPrincipalType
  }
}
