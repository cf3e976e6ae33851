// Service Bus namespace (local SAS authentication off) with the queues the caller
// names; the app may send and receive on the namespace, not manage it.
param name string
param location string
param principalId string

@description('Queues: {name, requiresSession, defaultMessageTimeToLive}.')
param queues array

resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
  properties: { disableLocalAuth: true, minimumTlsVersion: '1.2' }
}

// The lock outlasts APIGUARD_BACKGROUND_BUDGET (4m) so a run never loses its lock;
// ten deliveries, then the dead-letter queue (docs/operations.md reads it).
resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for q in queues: {
  parent: bus
  name: q.name
  properties: {
    requiresSession: q.requiresSession
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    defaultMessageTimeToLive: q.defaultMessageTimeToLive
    deadLetteringOnMessageExpiration: true
  }
}]

var roles = [
  '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
  '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
]

resource grants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roles: {
  name: guid(bus.id, principalId, role)
  scope: bus
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

output fullyQualifiedNamespace string = '${bus.name}.servicebus.windows.net'
