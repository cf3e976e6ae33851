// Connects Defender for Cloud to apiguard: a workflow automation sends the matching
// alerts to a Logic App (the Defender connector's trigger), which posts each alert body
// as it came to the app's `alerts` function with that function's own key. apiguard
// reads the workflow-automation body as is (README, "What it accepts"), and answers 503
// with Retry-After when it is busy, which the HTTP action's retry honours.
//
// The workflow definition is defender-workflow.json. Deploy it once the code package is
// on the app: the function key exists only then.
param prefix string
param suffix string
param location string
param appName string
param alertsUrl string

@description('Alert types sent to apiguard: each entry is a prefix (API_ is every Defender for APIs alert).')
param alertTypePrefixes array

var triggerName = 'When_a_Defender_for_Cloud_alert_is_created_or_triggered'
var defenderApiId = subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'ascalert')

resource defenderConnection 'Microsoft.Web/connections@2016-06-01' = {
  name: '${prefix}-ascalert-${suffix}'
  location: location
  properties: {
    displayName: 'Defender for Cloud alerts for apiguard'
    api: { id: defenderApiId }
  }
}

resource forwarder 'Microsoft.Logic/workflows@2019-05-01' = {
  name: '${prefix}-alerts-${suffix}'
  location: location
  properties: {
    state: 'Enabled'
    // The definition is data, which infra_workflow_test.go runs against apiguard.
    definition: loadJsonContent('defender-workflow.json')
    parameters: {
      '$connections': {
        value: {
          ascalert: { connectionId: defenderConnection.id, connectionName: defenderConnection.name, id: defenderApiId }
        }
      }
      // The generic list function: the function keys API answers {"default": key},
      // which the generated type of sites/functions' listkeys does not declare.
      functionKey: { value: listKeys(resourceId('Microsoft.Web/sites/functions', appName, 'alerts'), '2024-04-01').default }
      alertsUrl: { value: alertsUrl }
    }
  }
}

resource automation 'Microsoft.Security/automations@2023-12-01-preview' = {
  name: '${prefix}-defender-to-apiguard-${suffix}'
  location: location
  properties: {
    description: 'Sends Defender for APIs alerts to apiguard through the Logic App ${forwarder.name}.'
    isEnabled: true
    scopes: [
      { description: 'This subscription', scopePath: subscription().id }
    ]
    sources: [
      {
        eventSource: 'Alerts'
        // Rule sets are ORed: one per prefix.
        ruleSets: [for p in alertTypePrefixes: {
          rules: [
            { propertyJPath: 'AlertType', propertyType: 'String', operator: 'StartsWith', expectedValue: p }
          ]
        }]
      }
    ]
    actions: [
      {
        actionType: 'LogicApp'
        logicAppResourceId: forwarder.id
        uri: listCallbackUrl(resourceId('Microsoft.Logic/workflows/triggers', forwarder.name, triggerName), '2019-05-01').value
      }
    ]
  }
}

output logicAppName string = forwarder.name
output automationName string = automation.name
