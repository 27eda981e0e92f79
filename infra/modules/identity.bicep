// Two user-assigned identities, so each side holds only what it needs: the Function App (host storage, Durable,
// starting the trainer job) and the trainer job (blob data, pulling its image). Neither holds a key.

@description('Region of the identities.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the identity the Function App runs as.')
param functionsIdentityName string

@description('Name of the identity the trainer job runs as.')
param trainerIdentityName string

resource functionsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: functionsIdentityName
  location: location
  tags: tags
}

resource trainerIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: trainerIdentityName
  location: location
  tags: tags
}

output functionsIdentityId string = functionsIdentity.id
output functionsClientId string = functionsIdentity.properties.clientId
output functionsPrincipalId string = functionsIdentity.properties.principalId
output trainerIdentityId string = trainerIdentity.id
output trainerClientId string = trainerIdentity.properties.clientId
output trainerPrincipalId string = trainerIdentity.properties.principalId
