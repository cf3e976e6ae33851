// Streams one gateway's access log to apiguard's event hub: the categories the
// traffic-eventhub function decodes (APIM GatewayLogs, Application Gateway and Front Door
// access logs). Deployed into the gateway's resource group; main.bicep passes only ids
// of the three supported types.
param sourceId string
param authorizationRuleId string
param hubName string

var segments = split(sourceId, '/')
var kind = toLower('${segments[6]}/${segments[7]}')
var name = segments[8]
var settingName = 'apiguard-traffic'

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = if (kind == 'microsoft.apimanagement/service') {
  name: name
}

resource appGateway 'Microsoft.Network/applicationGateways@2024-05-01' existing = if (kind == 'microsoft.network/applicationgateways') {
  name: name
}

resource frontDoor 'Microsoft.Cdn/profiles@2024-09-01' existing = if (kind == 'microsoft.cdn/profiles') {
  name: name
}

resource apimLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (kind == 'microsoft.apimanagement/service') {
  name: settingName
  scope: apim
  properties: {
    eventHubAuthorizationRuleId: authorizationRuleId
    eventHubName: hubName
    logs: [{ category: 'GatewayLogs', enabled: true }]
  }
}

resource appGatewayLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (kind == 'microsoft.network/applicationgateways') {
  name: settingName
  scope: appGateway
  properties: {
    eventHubAuthorizationRuleId: authorizationRuleId
    eventHubName: hubName
    logs: [{ category: 'ApplicationGatewayAccessLog', enabled: true }]
  }
}

resource frontDoorLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (kind == 'microsoft.cdn/profiles') {
  name: settingName
  scope: frontDoor
  properties: {
    eventHubAuthorizationRuleId: authorizationRuleId
    eventHubName: hubName
    logs: [{ category: 'FrontDoorAccessLog', enabled: true }]
  }
}
