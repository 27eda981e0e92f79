// Container Apps environment with a serverless GPU workload profile, and the manual-trigger job that runs
// Pipeline.Trainer. Serverless GPU replicas exist only while an execution runs: an idle pipeline costs nothing here.

@description('Region of the environment and the job (it must offer serverless GPUs).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Container Apps environment name.')
param environmentName string

@description('Trainer job name (also the azd service host for "trainer").')
param jobName string

@description('Log Analytics workspace receiving the container logs (via diagnostic settings, no shared key).')
param logAnalyticsId string

@allowed([
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
])
@description('Serverless GPU workload profile type.')
param gpuProfileType string

@description('Name the environment gives that profile; the job runs on it.')
param gpuProfileName string

@description('vCPUs of one replica (the whole GPU profile: 8 for T4, 24 for A100).')
param cpu int

@description('Memory of one replica (56Gi for T4, 220Gi for A100).')
param memory string

@description('Trainer image.')
param image string

@description('Login server of the registry the image comes from.')
param registryServer string

@description('Resource id of the identity the job runs as (pulls the image, reads and writes blobs).')
param trainerIdentityId string

@description('Client id of that identity, for DefaultAzureCredential inside the container.')
param trainerClientId string

@description('Blob endpoint of the pipeline storage account.')
param blobEndpoint string

@description('Container name inside the job template; the launcher overrides it by this name.')
param containerName string

@minValue(60)
@description('Seconds one replica may run before it is stopped (the training budget of one execution).')
param replicaTimeoutSeconds int

@minValue(0)
@maxValue(10)
@description('Times a failed replica is retried in place; it resumes from its last checkpoint.')
param replicaRetryLimit int

resource environment 'Microsoft.App/managedEnvironments@2025-07-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    // Logs go through Azure Monitor diagnostic settings (below) rather than the Log Analytics shared key.
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
      {
        name: gpuProfileName
        workloadProfileType: gpuProfileType
      }
    ]
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: environment
  properties: {
    workspaceId: logAnalyticsId
    // Resource-specific tables (ContainerAppConsoleLogs, ContainerAppSystemLogs) rather than AzureDiagnostics.
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource job 'Microsoft.App/jobs@2025-07-01' = {
  name: jobName
  location: location
  tags: union(tags, { 'azd-service-name': 'trainer' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${trainerIdentityId}': {}
    }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: gpuProfileName
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: replicaTimeoutSeconds
      replicaRetryLimit: replicaRetryLimit
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      registries: [
        {
          server: registryServer
          identity: trainerIdentityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: containerName
          image: image
          resources: {
            cpu: cpu
            memory: memory
          }
          env: [
            {
              name: 'PIPELINE_STORAGE_BLOB_URI'
              value: blobEndpoint
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: trainerClientId
            }
          ]
        }
      ]
    }
  }
}

output jobName string = job.name
output environmentName string = environment.name
