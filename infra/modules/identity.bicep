// The app's user-assigned identity: every connection and role assignment uses it, so
// the grants exist before the app starts and survive a re-created site.
param name string
param location string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
