// Grants the app's identity custom roles on one named API Management service. Deployed
// into the service's resource group (main.bicep sets the module scope from the id), so
// the assignments cover that service alone.
param serviceId string
param principalId string

@description('Custom role names (GUIDs) to assign on the service; custom roles are tenant-wide, referenced from the service\'s subscription.')
param roleDefinitionNames array

resource service 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: last(split(serviceId, '/'))
}

resource grants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roleDefinitionNames: {
  name: guid(serviceId, principalId, role)
  scope: service
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]
