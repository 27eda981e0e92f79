// Azure Container Registry for the trainer image. No admin user and no anonymous pull: the trainer job pulls with its
// managed identity (AcrPull), azd pushes with the deploying user's Entra identity.

@description('Region of the registry.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Registry name (5-50 alphanumerics).')
param name string

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('Registry SKU. Basic holds 10 GiB, enough for a few CUDA trainer images.')
param sku string = 'Basic'

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
