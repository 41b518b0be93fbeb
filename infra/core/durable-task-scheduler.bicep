// Durable Task Scheduler: the managed backend for Durable Functions, an alternative to the Azure Storage
// provider (https://learn.microsoft.com/azure/durable-task/scheduler/durable-task-scheduler: "For
// Durable Functions, you can use the Durable Task Scheduler with any of the Functions SKUs").
// Apps authenticate with a managed identity only
// (https://learn.microsoft.com/azure/durable-task/scheduler/durable-task-scheduler-identity).

param name string
param location string
param tags object = {}

@description('Task hub name; the Function App is pointed at it through an app setting.')
param taskHubName string

@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // An empty list refuses every caller; access is still by RBAC (Durable Task Data Contributor).
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: {
      name: skuName
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

output name string = scheduler.name
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
