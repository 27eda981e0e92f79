// Pipeline on Azure: storage, a Flex Consumption Function App (Durable Functions, isolated worker), Event Grid
// delivery of uploads to the blob trigger, and a serverless-GPU Container Apps job for the trainer. Deploy with
// `azd up` (see README "Azure deployment"). Compiled and linted by infra/lint and tests/Pipeline.Tests/Infra.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the resource group name and the unique suffix of every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption and serverless GPUs (for example westus3, australiaeast, swedencentral).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@allowed([
  'T4'
  'A100'
])
@description('Serverless GPU of the trainer job: T4 (16 GB, NC8as) or A100 (80 GB, NC24).')
param gpu string = 'T4'

@minValue(600)
@description('Seconds one trainer execution may run before Container Apps stops it.')
param trainerTimeoutSeconds int = 14400

@minValue(0)
@maxValue(10)
@description('In-place retries of a failed trainer replica (it resumes from its last checkpoint); the orchestration relaunches beyond that.')
param trainerRetryLimit int = 1

@description('Trainer image. Empty until azd has built and pushed one (it sets SERVICE_TRAINER_IMAGE_NAME).')
param trainerImage string = ''

@description('Create the Event Grid subscription to the blob trigger; needs the function code deployed first (the postdeploy hook sets it).')
param subscribeBlobEvents bool = false

@description('Principal allowed to upload to the unlabeled container (azd passes the signed-in user); empty for none.')
param uploaderPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('Kind of principal uploaderPrincipalId is.')
param uploaderPrincipalType string = 'User'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

// Serverless GPU profiles; a replica takes the whole profile (its vCPUs and memory).
var gpuProfiles = {
  T4: {
    workloadProfileType: 'Consumption-GPU-NC8as-T4'
    cpu: 8
    memory: '56Gi'
  }
  A100: {
    workloadProfileType: 'Consumption-GPU-NC24-A100'
    cpu: 24
    memory: '220Gi'
  }
}
var gpuProfileName = 'gpu-${toLower(gpu)}'

// Storage layout of DESIGN.md.
var dataContainers = [
  'unlabeled'
  'labeled'
  'quarantine'
  'datasets'
  'runs'
  'models'
]
var uploadContainerName = 'unlabeled'
var deadLetterContainerName = 'eventgrid-deadletter'
var deploymentContainerName = 'app-package-${resourceToken}'
var trainerContainerName = 'trainer'
var trainerJobName = 'caj-trainer-${resourceToken}'
// The orchestration's blob trigger; the Event Grid webhook addresses it as Host.Functions.IngestUnlabeledBlob.
var blobTriggerFunctionName = 'IngestUnlabeledBlob'
// Until azd pushes the trainer, the job points at a public sample image so that it can be created.
var effectiveTrainerImage = empty(trainerImage) ? 'mcr.microsoft.com/k8se/quickstart-jobs:latest' : trainerImage

resource resourceGroup 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    functionsIdentityName: 'id-func-${resourceToken}'
    trainerIdentityName: 'id-trainer-${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    name: 'st${resourceToken}'
    dataContainers: dataContainers
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    name: 'cr${resourceToken}'
  }
}

module trainer 'modules/trainer.bicep' = {
  name: 'trainer'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    environmentName: 'cae-${resourceToken}'
    jobName: trainerJobName
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    gpuProfileType: gpuProfiles[gpu].workloadProfileType
    gpuProfileName: gpuProfileName
    cpu: gpuProfiles[gpu].cpu
    memory: gpuProfiles[gpu].memory
    image: effectiveTrainerImage
    registryServer: registry.outputs.loginServer
    trainerIdentityId: identity.outputs.trainerIdentityId
    trainerClientId: identity.outputs.trainerClientId
    blobEndpoint: storage.outputs.blobEndpoint
    containerName: trainerContainerName
    replicaTimeoutSeconds: trainerTimeoutSeconds
    replicaRetryLimit: trainerRetryLimit
  }
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    planName: 'plan-${resourceToken}'
    appName: 'func-${resourceToken}'
    functionsIdentityId: identity.outputs.functionsIdentityId
    functionsClientId: identity.outputs.functionsClientId
    trainerClientId: identity.outputs.trainerClientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    trainerJobName: trainer.outputs.jobName
    trainerImage: effectiveTrainerImage
    trainerContainerName: trainerContainerName
    trainerCpu: gpuProfiles[gpu].cpu
    trainerMemory: gpuProfiles[gpu].memory
  }
}

module blobEvents 'modules/blob-events.bicep' = {
  name: 'blob-events'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    systemTopicName: 'evgt-${resourceToken}'
    storageAccountName: storage.outputs.name
    uploadContainerName: uploadContainerName
    deadLetterContainerName: deadLetterContainerName
    functionAppName: functions.outputs.name
    blobTriggerFunctionName: blobTriggerFunctionName
    subscribeBlobEvents: subscribeBlobEvents
  }
}

module access 'modules/access.bicep' = {
  name: 'access'
  scope: resourceGroup
  params: {
    storageAccountName: storage.outputs.name
    trainerReadContainers: [
      'datasets'
      'labeled'
    ]
    trainerWriteContainers: [
      'runs'
      'models'
    ]
    uploadContainerName: uploadContainerName
    deadLetterContainerName: deadLetterContainerName
    registryName: registry.outputs.name
    trainerJobName: trainer.outputs.jobName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    functionsPrincipalId: identity.outputs.functionsPrincipalId
    trainerPrincipalId: identity.outputs.trainerPrincipalId
    eventGridPrincipalId: blobEvents.outputs.principalId
    uploaderPrincipalId: uploaderPrincipalId
    uploaderPrincipalType: uploaderPrincipalType
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_FUNCTION_APP_NAME string = functions.outputs.name
output PIPELINE_FUNCTIONS_URL string = 'https://${functions.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output PIPELINE_STORAGE_BLOB_URI string = storage.outputs.blobEndpoint
output PIPELINE_TRAINER_JOB_NAME string = trainer.outputs.jobName
output PIPELINE_GPU_PROFILE string = gpuProfiles[gpu].workloadProfileType
