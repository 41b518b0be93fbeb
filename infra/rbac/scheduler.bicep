// Role assignments on one Durable Task Scheduler, one per role definition id
// (https://learn.microsoft.com/azure/durable-task/scheduler/durable-task-scheduler-identity).

param schedulerName string
param principalId string

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param principalType string

param roleDefinitionIds array

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' existing = {
  name: schedulerName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roleDefinitionIds: {
  name: guid(scheduler.id, principalId, role)
  scope: scheduler
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: principalId
    principalType: principalType
  }
}]
