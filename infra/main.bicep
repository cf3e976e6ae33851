// apiguard on Azure Functions Flex Consumption (custom handler), with its state in Table
// Storage reached through the app's managed identity. Deploy the zip from `make package`
// afterwards (az functionapp deployment source config-zip or the Flex one-deploy API).
//
// The app starts in dryrun mode: it decides and records, and enforces nothing until an
// operator sets mode = 'enforce'.

@description('Name prefix for every resource (letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param prefix string = 'apiguard'

param location string = resourceGroup().location

@allowed(['dryrun', 'enforce'])
param mode string = 'dryrun'

@description('Addresses and CIDRs never to block, comma-separated.')
param allowCidrs string = ''

@description('Cap on new blocks per hour.')
param maxNewBlocksPerHour int = 100

@description('WAF policies to enforce in: the JSON array of APIGUARD_WAF_TARGETS (see README). Grant the app Network Contributor on each.')
param wafTargets string = ''

@description('API Management services to enforce in, as the APIGUARD_APIM_TARGETS JSON array (empty: none). The identity needs API Management Service Contributor on each.')
param apimTargets string = ''

@description('Proxies in front of the gateway whose X-Forwarded-For is trusted (comma-separated CIDRs).')
param trustedProxies string = ''

@description('What the monthly triage reads: subscription ids and API Management service ids, comma-separated (empty: the services of apimTargets). Grant the identity Reader on each and Security Reader on their subscriptions; Security Admin there lets approved onboarding decisions onboard APIs to Defender for APIs.')
param triageScopes string = ''

@description('API tags that mark sensitive data for the triage, comma-separated (e.g. pii,payment,health).')
param triageSensitiveTags string = ''

var suffix = uniqueString(resourceGroup().id)
var storageName = toLower('${prefix}${suffix}')
var deployContainer = 'deployments'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take(storageName, 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deployContainer
}

// Reconcile requests: a session per policy gives one writer per policy.
resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${prefix}-sb-${suffix}'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
  properties: { disableLocalAuth: true, minimumTlsVersion: '1.2' }
}

resource reconcileQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: bus
  name: 'apiguard-reconcile'
  properties: {
    requiresSession: true
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    defaultMessageTimeToLive: 'P1D'
    deadLetteringOnMessageExpiration: true
  }
}

// Gateway log batches for the traffic function (one batch per message); no sessions:
// detector state is merged in Table Storage, so any instance may take any batch.
resource trafficQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: bus
  name: 'apiguard-traffic'
  properties: {
    requiresSession: false
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    defaultMessageTimeToLive: 'PT6H'
    deadLetteringOnMessageExpiration: true
  }
}

// Diagnostic logs for the traffic-eventhub function: point the gateways' diagnostic
// settings (APIM GatewayLogs, Application Gateway and Front Door access logs) at this
// hub. apiguard reads with a consumer group of its own.
resource hubs 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: '${prefix}-eh-${suffix}'
  location: location
  sku: { name: 'Standard', tier: 'Standard', capacity: 1 }
  properties: { disableLocalAuth: true, minimumTlsVersion: '1.2' }
}

resource trafficHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: hubs
  name: 'apiguard-traffic'
  properties: { partitionCount: 4, messageRetentionInDays: 1 }
}

resource trafficConsumers 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: trafficHub
  name: 'apiguard'
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${prefix}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${prefix}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${prefix}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deployContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: { name: 'custom', version: '1.0' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'APIGUARD_TABLES_URL', value: storage.properties.primaryEndpoints.table }
        { name: 'APIGUARD_MODE', value: mode }
        { name: 'APIGUARD_ALLOW_CIDRS', value: allowCidrs }
        { name: 'APIGUARD_MAX_NEW_BLOCKS_PER_HOUR', value: string(maxNewBlocksPerHour) }
        { name: 'APIGUARD_LOG_FORMAT', value: 'json' }
        { name: 'APIGUARD_WAF_TARGETS', value: wafTargets }
        { name: 'APIGUARD_APIM_TARGETS', value: apimTargets }
        { name: 'APIGUARD_TRUSTED_PROXIES', value: trustedProxies }
        { name: 'APIGUARD_TRIAGE_SCOPES', value: triageScopes }
        { name: 'APIGUARD_TRIAGE_SENSITIVE_TAGS', value: triageSensitiveTags }
        { name: 'APIGUARD_RECONCILE_QUEUE', value: reconcileQueue.name }
        { name: 'APIGUARD_TRAFFIC_QUEUE', value: trafficQueue.name }
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${bus.name}.servicebus.windows.net' }
        { name: 'APIGUARD_TRAFFIC_HUB', value: trafficHub.name }
        { name: 'APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP', value: trafficConsumers.name }
        { name: 'EventHubConnection__fullyQualifiedNamespace', value: '${hubs.name}.servicebus.windows.net' }
      ]
    }
  }
}

// Built-in role ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
}

resource hubRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(trafficHub.id, app.id, roles.eventHubsDataReceiver)
  scope: trafficHub
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
  }
}

resource busRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(bus.id, app.id, roles.serviceBusDataOwner)
  scope: bus
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
  }
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for r in [roles.storageBlobDataOwner, roles.storageTableDataContributor, roles.storageQueueDataContributor]: {
  name: guid(storage.id, app.id, r)
  scope: storage
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r)
  }
}]

resource insightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, app.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

output functionAppName string = app.name
output alertsUrl string = 'https://${app.properties.defaultHostName}/api/alerts'
