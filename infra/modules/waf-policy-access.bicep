// Grants the app's identity the WAF policy role on one named policy. Deployed into the
// policy's resource group (main.bicep sets the module scope from the policy id), so the
// `existing` reference and the assignment scope are that policy alone.
param policyId string
@description('The custom role\'s name (a GUID); custom roles are tenant-wide, referenced from the policy\'s subscription.')
param roleDefinitionName string
param principalId string

var policyName = last(split(policyId, '/'))
var roleDefinitionId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
var isFrontDoor = contains(toLower(policyId), '/frontdoorwebapplicationfirewallpolicies/')

resource appGatewayPolicy 'Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies@2024-05-01' existing = if (!isFrontDoor) {
  name: policyName
}

resource frontDoorPolicy 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2024-02-01' existing = if (isFrontDoor) {
  name: policyName
}

resource appGatewayGrant 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!isFrontDoor) {
  name: guid(policyId, principalId, roleDefinitionName)
  scope: appGatewayPolicy
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: roleDefinitionId
  }
}

resource frontDoorGrant 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isFrontDoor) {
  name: guid(policyId, principalId, roleDefinitionName)
  scope: frontDoorPolicy
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: roleDefinitionId
  }
}
