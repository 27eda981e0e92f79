// Flex Consumption Function App (.NET isolated worker) with identity-based connections only. App settings carry
// account names, endpoints and client ids; no setting holds a storage key or connection string (the test in
// tests/Pipeline.Tests/Infra checks this on the compiled template).

@description('Region of the plan and the app.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Flex Consumption plan name.')
param planName string

@description('Function App name (also the azd service host for "functions").')
param appName string

@description('Resource id of the identity the app runs as.')
param functionsIdentityId string

@description('Client id of the identity the app runs as.')
param functionsClientId string

@description('Client id of the trainer job identity; the launcher passes it into each job execution (AZURE_CLIENT_ID).')
param trainerClientId string

@description('Storage account holding host state, Durable Task state and the pipeline data.')
param storageAccountName string

@description('Blob endpoint of that account, e.g. https://{account}.blob.core.windows.net/.')
param blobEndpoint string

@description('Queue endpoint of that account (the blob trigger keeps its poison queue there).')
param queueEndpoint string

@description('Container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string (identifies the component; ingestion needs an Entra token).')
param applicationInsightsConnectionString string

@description('Name of the trainer Container Apps job the launcher starts.')
param trainerJobName string

@description('Trainer image; the launcher sends it with each start because an execution override replaces the whole container.')
param trainerImage string

@description('Container name inside the trainer job template.')
param trainerContainerName string

@description('vCPUs of one trainer replica.')
param trainerCpu int

@description('Memory of one trainer replica, e.g. 56Gi.')
param trainerMemory string

@description('.NET version of the isolated worker (Flex Consumption runtime list: 8.0, 9.0, 10.0).')
param dotnetVersion string = '10.0'

@minValue(40)
@maxValue(1000)
@description('Upper bound on Flex instances.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory of each Flex instance.')
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// Identity-based settings: {connection}__accountName / __blobServiceUri / __queueServiceUri select the account,
// __credential=managedidentity and __clientId pick the user-assigned identity (the app has no system identity).
var identitySettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: functionsClientId
  // The blob trigger (IngestUnlabeledBlob, Source = EventGrid) binds Connection = "PipelineStorage".
  PipelineStorage__blobServiceUri: blobEndpoint
  PipelineStorage__queueServiceUri: queueEndpoint
  PipelineStorage__credential: 'managedidentity'
  PipelineStorage__clientId: functionsClientId
  // DefaultAzureCredential (Pipeline.Core StorageOptions, the job launcher) picks the user-assigned identity by this.
  AZURE_CLIENT_ID: functionsClientId
  PIPELINE_STORAGE_BLOB_URI: blobEndpoint
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${functionsClientId};Authorization=AAD'
}

// Read by Pipeline.Orchestration's ContainerAppsJobLauncher (configuration section Pipeline:ContainerAppsJob).
var launcherSettings = {
  Pipeline__Launcher: 'ContainerAppsJob'
  Pipeline__ContainerAppsJob__ArmEndpoint: environment().resourceManager
  Pipeline__ContainerAppsJob__SubscriptionId: subscription().subscriptionId
  Pipeline__ContainerAppsJob__ResourceGroup: resourceGroup().name
  Pipeline__ContainerAppsJob__JobName: trainerJobName
  Pipeline__ContainerAppsJob__ClientId: functionsClientId
  Pipeline__ContainerAppsJob__TrainerClientId: trainerClientId
  Pipeline__ContainerAppsJob__Image: trainerImage
  Pipeline__ContainerAppsJob__ContainerName: trainerContainerName
  Pipeline__ContainerAppsJob__Cpu: string(trainerCpu)
  Pipeline__ContainerAppsJob__Memory: trainerMemory
}

// .NET runtime settings of the worker process. Text ingestion streams gigabytes through short-lived buffers; the
// workstation GC sizes gen0 from the CPU cache and lets that garbage pile up between collections, so a 16 MB gen0
// budget keeps RSS near the live set (bench/ingest-text measures ingestion with the same setting). The runtime reads
// this knob only from the environment, not from runtimeconfig.json.
var runtimeSettings = {
  DOTNET_GCgen0size: '0x1000000'
}

resource app 'Microsoft.Web/sites@2024-11-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${functionsIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: functionsIdentityId
          }
        }
      }
      runtime: {
        name: 'dotnet-isolated'
        version: dotnetVersion
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [for setting in items(union(identitySettings, launcherSettings, runtimeSettings)): {
        name: setting.key
        value: setting.value
      }]
    }
  }
}

// Deployments authenticate with Entra ID (azd, az functionapp deploy); basic publishing credentials are keys by
// another name, so they are switched off.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
