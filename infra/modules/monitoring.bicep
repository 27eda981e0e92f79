// Log Analytics (container logs of the trainer job, Functions telemetry) and workspace-based Application Insights.
// Local (instrumentation-key) authentication is disabled: telemetry is accepted only with an Entra token, which the
// Function App obtains with its managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).

@description('Region of the workspace and the component.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Log Analytics workspace name.')
param logAnalyticsName string

@description('Application Insights component name.')
param applicationInsightsName string

@minValue(30)
@maxValue(730)
@description('Days of log retention.')
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output logAnalyticsId string = logAnalytics.id
output applicationInsightsName string = applicationInsights.name
// The connection string names the ingestion endpoint and the component; with local auth disabled it grants nothing
// by itself (ingestion needs an Entra token with Monitoring Metrics Publisher on the component).
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
