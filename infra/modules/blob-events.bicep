// Event Grid system topic on the storage account, and the subscription that pushes BlobCreated events under
// unlabeled/ to the blob trigger's webhook (the blobs extension endpoint of the Functions host). Flex Consumption
// supports only the Event Grid source for blob triggers; it also means ingestion starts on upload, not on a scan.
//
// The subscription needs the blobs_extension system key, which the host creates only once code with an Event Grid
// blob trigger has been deployed and started. So the first provision creates the topic alone
// (subscribeBlobEvents=false); the azd postdeploy hook provisions again with subscribeBlobEvents=true.

@description('Region of the system topic (that of the storage account).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('System topic name.')
param systemTopicName string

@description('Storage account whose blob events are published.')
param storageAccountName string

@description('Container whose new blobs start ingestion.')
param uploadContainerName string

@description('Container receiving events that could not be delivered.')
param deadLetterContainerName string

@description('Function App hosting the blob trigger.')
param functionAppName string

@description('Name of the Event Grid blob-triggered function (its webhook is Host.Functions.{name}).')
param blobTriggerFunctionName string

@description('Create the event subscription; needs the function code deployed (see the note at the top).')
param subscribeBlobEvents bool

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (subscribeBlobEvents) {
  parent: systemTopic
  name: 'ingest-${uploadContainerName}'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        // The key is read at deployment time and goes only into the subscription; it never appears in a setting,
        // an output or the repository.
        endpointUrl: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${blobTriggerFunctionName}&code=${listKeys('${functionApp.id}/host/default', '2024-11-01').systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      // Only uploads: the pipeline's own writes (quarantine/, datasets/, runs/, models/) must not re-trigger it.
      subjectBeginsWith: '/blobServices/default/containers/${uploadContainerName}/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // An event Event Grid gives up on (app down for a day, webhook misconfigured) is kept as a blob, so the upload
    // can be replayed rather than silently never ingested.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicName string = systemTopic.name
output principalId string = systemTopic.identity.principalId
