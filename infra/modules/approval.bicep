// Approval by email: apiguard announces each decision waiting for approval to this
// Logic App's request trigger (a CloudEvents notification target main.bicep adds). The
// workflow reads the decision back from the control API, so the mail shows apiguard's
// record rather than what the event says, and only a decision still pending is asked
// about. It sends an Office 365 approval email and posts the answer (approve or
// reject) with the approver's address as the actor. Every call goes to apiUrl with the
// `api` function's key: never to a link taken from the event.
//
// The workflow definition is approval-workflow.json, which infra_test.go runs against
// apiguard's own notifications and control API. Deploy this once the code package is on
// the app (the function key exists only then), then authorize the Office 365 connection
// once in the portal (docs/operations.md).
param location string
param appName string
param workflowName string
param connectionName string

@description('The control API\'s base URL, https://<app host>/api.')
param apiUrl string

@description('Mailboxes asked, semicolon-separated.')
param approvers string

var office365Id = subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'office365')

resource mail 'Microsoft.Web/connections@2016-06-01' = {
  name: connectionName
  location: location
  properties: {
    displayName: 'apiguard approval email'
    api: { id: office365Id }
  }
}

resource approvals 'Microsoft.Logic/workflows@2019-05-01' = {
  name: workflowName
  location: location
  properties: {
    state: 'Enabled'
    definition: loadJsonContent('approval-workflow.json')
    parameters: {
      '$connections': {
        value: {
          office365: { connectionId: mail.id, connectionName: mail.name, id: office365Id }
        }
      }
      apiUrl: { value: apiUrl }
      // As in defender.bicep: the function keys API answers {"default": key}.
      apiKey: { value: listKeys(resourceId('Microsoft.Web/sites/functions', appName, 'api'), '2024-04-01').default }
      approvers: { value: approvers }
    }
  }
}

output workflowName string = approvals.name
output connectionName string = mail.name
