// apiguard on Azure Functions Flex Consumption (custom handler). Every connection uses
// the app's user-assigned identity; every grant is at the narrowest scope that works.
// Deploy the zip from `make package` afterwards (see docs/operations.md).
//
// The app starts in dryrun mode: it decides and records, and enforces nothing until an
// operator sets mode to 'approve' or 'enforce'. What each module creates, the
// parameters and what could not be verified: infra/README.md. infra_test.go checks this
// file against the code's settings and the function bindings, so keep its conventions:
// app settings as `NAME: value` lines in `var ...Settings = {` objects.

@description('Name prefix for every resource (letters and digits, 3-11 characters).')
@minLength(3)
@maxLength(11)
param prefix string = 'apiguard'

param location string = resourceGroup().location

@description('dryrun decides and records only; approve enforces what an operator approves; enforce acts at once.')
@allowed(['dryrun', 'approve', 'enforce'])
param mode string = 'dryrun'

@description('Addresses and CIDRs never to block, comma-separated.')
param allowCidrs string = ''

@description('Cap on new blocks per hour.')
param maxNewBlocksPerHour int = 100

@description('WAF policies to enforce in: the APIGUARD_WAF_TARGETS JSON array, as a string (README, "Enforcement in WAF policies"); empty: none. Each target with an id gets the custom WAF policy role on that policy alone.')
param wafTargets string = ''

@description('API Management services to enforce in: the APIGUARD_APIM_TARGETS JSON array, as a string (README, "Enforcement in API Management"); empty: none. Each target with an id gets the policy writer and API inventory roles on that service alone.')
param apimTargets string = ''

@description('Proxies in front of the gateway whose X-Forwarded-For is trusted (comma-separated CIDRs).')
param trustedProxies string = ''

@description('Where notifications go: the APIGUARD_NOTIFY_TARGETS JSON array, as a string (README, "Notifications"); empty: none.')
param notifyTargets string = ''

@description('What the monthly triage reads: subscription ids and API Management service ids, comma-separated (empty: the services of apimTargets). A subscription gets Security Reader and the API inventory role; a service the API inventory role.')
param triageScopes string = ''

@description('API tags that mark sensitive data for the triage, comma-separated (e.g. pii,payment,health).')
param triageSensitiveTags string = ''

@description('Connect Defender for Cloud: a Logic App forwarding alerts to /api/alerts and the workflow automation that feeds it. Turn on once the code package is deployed (the function key exists only then); the deploying principal needs Security Admin on the subscription.')
param connectDefender bool = false

@description('Defender alert type prefixes sent to apiguard (API_: every Defender for APIs alert).')
param defenderAlertTypePrefixes array = ['API_']

@description('Mailboxes (semicolon-separated) asked by email to approve or reject each decision apiguard takes in approve mode: a Logic App receives the pending decisions and posts the answers. Set it once the code package is deployed (the api function key exists only then), then authorize the Office 365 connection once in the portal. Empty: no approval emails.')
param approvalEmails string = ''

@description('Gateways whose access logs stream to the hub, by resource id: API Management services (GatewayLogs), Application Gateways (ApplicationGatewayAccessLog), Front Door Standard/Premium profiles (Microsoft.Cdn/profiles, FrontDoorAccessLog). Needs deployEventHubs; turns the namespace\'s shared-access authentication on for Azure Monitor (apiguard still reads with its identity).')
param gatewayLogSources array = []

@description('Create the Event Hubs namespace and hub the traffic-eventhub function reads gateway diagnostic logs from.')
param deployEventHubs bool = true

var suffix = uniqueString(resourceGroup().id)
var appName = '${prefix}-${suffix}'
var deploymentContainer = 'deployments'

// Names the function bindings resolve from app settings (%APIGUARD_...%): one variable
// names both the resource and the setting.
var reconcileQueueName = 'apiguard-reconcile'
var trafficQueueName = 'apiguard-traffic'
var trafficHubName = 'apiguard-traffic'
var trafficConsumerGroupName = 'apiguard'

// The approval Logic App and its request trigger (the name in approval-workflow.json):
// its callback URL becomes a notification target.
var approvalWorkflowName = '${prefix}-approvals-${suffix}'
var approvalTriggerName = 'decision_pending'
var publicUrl = 'https://${appName}.azurewebsites.net/api'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { name: '${prefix}-id-${suffix}', location: location }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: { prefix: prefix, suffix: suffix, location: location, principalId: identity.outputs.principalId }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take(toLower('${prefix}${suffix}'), 24)
    location: location
    deploymentContainer: deploymentContainer
    principalId: identity.outputs.principalId
  }
}

module bus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: '${prefix}-sb-${suffix}'
    location: location
    principalId: identity.outputs.principalId
    queues: [
      // A session per policy gives one writer per policy.
      { name: reconcileQueueName, requiresSession: true, defaultMessageTimeToLive: 'P1D' }
      // Detector state is merged in Table Storage: any instance may take any batch.
      { name: trafficQueueName, requiresSession: false, defaultMessageTimeToLive: 'PT6H' }
    ]
  }
}

module hubs 'modules/eventhubs.bicep' = if (deployEventHubs) {
  name: 'eventhubs'
  params: {
    name: '${prefix}-eh-${suffix}'
    location: location
    principalId: identity.outputs.principalId
    hubName: trafficHubName
    consumerGroupName: trafficConsumerGroupName
    diagnosticsSend: !empty(gatewayLogSources)
  }
}

// Only the three gateway types whose access logs apiguard decodes.
var gatewayLogKinds = ['microsoft.apimanagement/service', 'microsoft.network/applicationgateways', 'microsoft.cdn/profiles']
var supportedLogSources = filter(gatewayLogSources, id => contains(gatewayLogKinds, toLower('${split(id, '/')[6]}/${split(id, '/')[7]}')))

module gatewayLogs 'modules/gateway-logs.bicep' = [for (id, i) in (deployEventHubs ? supportedLogSources : []): {
  name: 'gateway-logs-${i}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    sourceId: id
    authorizationRuleId: hubs.outputs.diagnosticsRuleId
    hubName: trafficHubName
  }
}]

// The approval Logic App hears of pending decisions as one more CloudEvents target. Its
// trigger URL carries a signature, which is why the app settings are a secure parameter.
module approval 'modules/approval.bicep' = if (!empty(approvalEmails)) {
  name: 'approval'
  params: {
    location: location
    appName: appName
    workflowName: approvalWorkflowName
    connectionName: '${prefix}-office365-${suffix}'
    apiUrl: publicUrl
    approvers: approvalEmails
  }
}

var notifyTargetList = empty(trim(notifyTargets)) ? [] : json(notifyTargets)
var notifySetting = empty(approvalEmails) ? notifyTargets : string(concat(notifyTargetList, [
  {
    name: 'approval-email'
    kind: 'cloudevents'
    types: ['apiguard.decision.pending']
    url: listCallbackUrl(resourceId('Microsoft.Logic/workflows/triggers', approvalWorkflowName, approvalTriggerName), '2019-05-01').value
  }
]))

var appSettings = {
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identity.outputs.clientId}'
  AZURE_CLIENT_ID: identity.outputs.clientId
  APIGUARD_TABLES_URL: storage.outputs.tableEndpoint
  APIGUARD_LOG_FORMAT: 'json'
  APIGUARD_MODE: mode
  APIGUARD_ALLOW_CIDRS: allowCidrs
  APIGUARD_MAX_NEW_BLOCKS_PER_HOUR: string(maxNewBlocksPerHour)
  APIGUARD_WAF_TARGETS: wafTargets
  APIGUARD_APIM_TARGETS: apimTargets
  APIGUARD_TRUSTED_PROXIES: trustedProxies
  APIGUARD_NOTIFY_TARGETS: notifySetting
  APIGUARD_PUBLIC_URL: publicUrl
  APIGUARD_TRIAGE_SCOPES: triageScopes
  APIGUARD_TRIAGE_SENSITIVE_TAGS: triageSensitiveTags
  APIGUARD_RECONCILE_QUEUE: reconcileQueueName
  APIGUARD_TRAFFIC_QUEUE: trafficQueueName
  APIGUARD_TRAFFIC_HUB: trafficHubName
  APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP: trafficConsumerGroupName
  ServiceBusConnection__fullyQualifiedNamespace: bus.outputs.fullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.outputs.clientId
}

// Without the hub the traffic-eventhub function cannot start; the others run.
var eventHubSettings = deployEventHubs ? {
  EventHubConnection__fullyQualifiedNamespace: hubs.outputs.fullyQualifiedNamespace
  EventHubConnection__credential: 'managedidentity'
  EventHubConnection__clientId: identity.outputs.clientId
} : {}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  // The notification targets read the approval trigger's URL.
  dependsOn: [approval]
  params: {
    name: appName
    location: location
    identityId: identity.outputs.id
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainer}'
    appSettings: union(appSettings, eventHubSettings)
  }
}

// The WAF policies apiguard writes, by resource id (targets given as local files
// get nothing). One custom role, assignable in the resource groups of those policies,
// assigned on each policy alone.
var wafTargetList = empty(trim(wafTargets)) ? [] : json(wafTargets)
var wafPolicyIds = map(filter(wafTargetList, t => contains(t, 'id')), t => string(t.id))
var wafResourceGroups = map(wafPolicyIds, id => '/subscriptions/${split(id, '/')[2]}/resourceGroups/${split(id, '/')[4]}')

resource wafPolicyRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(wafPolicyIds)) {
  name: guid(resourceGroup().id, 'apiguard-waf-policy-writer')
  properties: {
    roleName: 'apiguard WAF policy writer (${suffix})'
    description: 'Read and write the WAF policies apiguard enforces in: assigned on each named policy only.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/read'
          'Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/write'
          'Microsoft.Network/frontdoorWebApplicationFirewallPolicies/read'
          'Microsoft.Network/frontdoorWebApplicationFirewallPolicies/write'
        ]
        notActions: []
      }
    ]
    assignableScopes: union([resourceGroup().id], wafResourceGroups)
  }
}

module wafAccess 'modules/waf-policy-access.bicep' = [for (id, i) in wafPolicyIds: {
  name: 'waf-access-${i}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    policyId: id
    roleDefinitionName: wafPolicyRole.name
    principalId: identity.outputs.principalId
  }
}]

module defender 'modules/defender.bicep' = if (connectDefender) {
  name: 'defender'
  params: {
    prefix: prefix
    suffix: suffix
    location: location
    appName: app.outputs.name
    alertsUrl: 'https://${app.outputs.defaultHostName}/api/alerts'
    alertTypePrefixes: defenderAlertTypePrefixes
  }
}

// API Management: one role to write apiguard's policies and fragment, one to read the
// API inventory and onboard APIs to Defender for APIs (the triage). Both are assignable
// where they are assigned: the named services' resource groups and the triage's
// subscriptions.
var apimTargetList = empty(trim(apimTargets)) ? [] : json(apimTargets)
var apimServiceIds = map(filter(apimTargetList, t => contains(t, 'id')), t => string(t.id))
var triageEntries = filter(map(split(triageScopes, ','), s => trim(s)), s => !empty(s))
var triageServiceIds = filter(triageEntries, s => contains(toLower(s), '/providers/microsoft.apimanagement/service/'))
var triageSubscriptionIds = map(filter(triageEntries, s => !contains(toLower(s), '/providers/')), s => last(split(s, '/')))
// The triage reads apimTargets' services when no scope is given.
var inventoryServiceIds = union(apimServiceIds, empty(triageEntries) ? apimServiceIds : triageServiceIds)
var inventoryScopes = union(
  map(inventoryServiceIds, id => '/subscriptions/${split(id, '/')[2]}/resourceGroups/${split(id, '/')[4]}'),
  map(triageSubscriptionIds, sub => '/subscriptions/${sub}')
)

resource apimPolicyRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(apimServiceIds)) {
  name: guid(resourceGroup().id, 'apiguard-apim-policy-writer')
  properties: {
    roleName: 'apiguard API Management policy writer (${suffix})'
    description: 'Read and write the global, product, API and operation policies and the policy fragments apiguard owns: assigned on each named service only.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.ApiManagement/service/read'
          'Microsoft.ApiManagement/service/policies/read'
          'Microsoft.ApiManagement/service/policies/write'
          'Microsoft.ApiManagement/service/products/policies/read'
          'Microsoft.ApiManagement/service/products/policies/write'
          'Microsoft.ApiManagement/service/apis/policies/read'
          'Microsoft.ApiManagement/service/apis/policies/write'
          'Microsoft.ApiManagement/service/apis/operations/policies/read'
          'Microsoft.ApiManagement/service/apis/operations/policies/write'
          'Microsoft.ApiManagement/service/policyFragments/read'
          'Microsoft.ApiManagement/service/policyFragments/write'
        ]
        notActions: []
      }
    ]
    assignableScopes: union([resourceGroup().id], map(apimServiceIds, id => '/subscriptions/${split(id, '/')[2]}/resourceGroups/${split(id, '/')[4]}'))
  }
}

resource inventoryRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(inventoryScopes)) {
  name: guid(resourceGroup().id, 'apiguard-api-inventory')
  properties: {
    roleName: 'apiguard API inventory reader (${suffix})'
    description: 'Read API Management services, APIs, operations, products, tags and policies and their Capacity metric; onboard APIs to Defender for APIs (approved decisions only).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.ApiManagement/service/read'
          'Microsoft.ApiManagement/service/apis/read'
          'Microsoft.ApiManagement/service/apis/operations/read'
          'Microsoft.ApiManagement/service/apis/policies/read'
          'Microsoft.ApiManagement/service/apis/operations/policies/read'
          'Microsoft.ApiManagement/service/products/read'
          'Microsoft.ApiManagement/service/products/apis/read'
          'Microsoft.ApiManagement/service/products/policies/read'
          'Microsoft.ApiManagement/service/policies/read'
          'Microsoft.ApiManagement/service/tagResources/read'
          'Microsoft.Insights/metrics/read'
          'Microsoft.Security/apiCollections/read'
          'Microsoft.Security/apiCollections/write'
        ]
        notActions: []
      }
    ]
    assignableScopes: union([resourceGroup().id], inventoryScopes)
  }
}

module apimAccess 'modules/apim-access.bicep' = [for (id, i) in inventoryServiceIds: {
  name: 'apim-access-${i}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    serviceId: id
    principalId: identity.outputs.principalId
    roleDefinitionNames: contains(apimServiceIds, id) ? [apimPolicyRole.name, inventoryRole.name] : [inventoryRole.name]
  }
}]

module triageAccess 'modules/triage-subscription-access.bicep' = [for (sub, i) in triageSubscriptionIds: {
  name: 'triage-access-${i}'
  scope: subscription(sub)
  params: {
    principalId: identity.outputs.principalId
    inventoryRoleName: inventoryRole.name
  }
}]

output functionAppName string = app.outputs.name
output alertsUrl string = 'https://${app.outputs.defaultHostName}/api/alerts'
output identityClientId string = identity.outputs.clientId
output unsupportedGatewayLogSources array = filter(gatewayLogSources, id => !contains(supportedLogSources, id))
output approvalLogicApp string = empty(approvalEmails) ? '' : approvalWorkflowName
output eventHubsNamespace string = deployEventHubs ? hubs.outputs.fullyQualifiedNamespace : ''
