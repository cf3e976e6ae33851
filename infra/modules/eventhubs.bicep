// Event Hubs namespace and the hub the gateways' diagnostic settings stream to, with a
// consumer group apiguard alone reads with; the app may only receive, on this hub.
param name string
param location string
param principalId string
param hubName string
param consumerGroupName string

@description('Allow Azure Monitor diagnostic settings to send: they authenticate with a namespace authorization rule, so shared-access (local) authentication must stay on. apiguard itself still reads with its identity.')
param diagnosticsSend bool

resource hubs 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  sku: { name: 'Standard', tier: 'Standard', capacity: 1 }
  properties: { disableLocalAuth: !diagnosticsSend, minimumTlsVersion: '1.2' }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: hubs
  name: hubName
  properties: { partitionCount: 4, messageRetentionInDays: 1 }
}

resource consumers 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
}

// Send only: the diagnostic settings name the hub, so they need no Manage right.
resource diagnosticsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = if (diagnosticsSend) {
  parent: hubs
  name: 'apiguard-diagnostics-send'
  properties: { rights: ['Send'] }
}

var eventHubsDataReceiver = 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'

resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hub.id, principalId, eventHubsDataReceiver)
  scope: hub
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventHubsDataReceiver)
  }
}

output fullyQualifiedNamespace string = '${hubs.name}.servicebus.windows.net'
output hubId string = hub.id
output diagnosticsRuleId string = diagnosticsSend ? diagnosticsRule.id : ''
