// The monthly triage's rights on one subscription it reads (APIGUARD_TRIAGE_SCOPES
// names the subscription): Security Reader for Defender's assessments, and the API
// inventory role for the API Management services the triage finds there.
targetScope = 'subscription'

param principalId string

@description('The API inventory custom role\'s name (a GUID).')
param inventoryRoleName string

var securityReader = '39bc4728-0917-49c7-9d2c-d95423bc2eb4'

resource grants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [securityReader, inventoryRoleName]: {
  name: guid(subscription().id, principalId, role)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]
