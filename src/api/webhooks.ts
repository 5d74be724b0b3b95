// Starting a webhook endpoint's delivery workflow: the one place it is started (the EventService
// when an endpoint is created; the replay-corpus recorder), so every start gets the same id,
// options and search attributes.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { CompanyIdKey, NeedsAttentionKey } from '../domain/search-attributes.js';
import { DEFAULT_WEBHOOK_DELIVERY_OPTIONS, webhookDeliveryWorkflowId, type WebhookDeliveryOptions } from '../domain/webhooks.js';
import type { WebhookEndpoint } from '../events/endpoints.js';
import type { webhookDeliveryWorkflow } from '../workflows/webhook-delivery.js';

export async function startWebhookDelivery(
  client: Client,
  endpoint: WebhookEndpoint,
  task_queue: string,
  options: WebhookDeliveryOptions = DEFAULT_WEBHOOK_DELIVERY_OPTIONS,
) {
  const workflowId = webhookDeliveryWorkflowId(endpoint.endpoint_id);
  try {
    return await client.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
      workflowId,
      taskQueue: task_queue,
      args: [{ endpoint_id: endpoint.endpoint_id }, options],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `Webhooks of ${endpoint.company_id} to ${new URL(endpoint.url).host}`,
      typedSearchAttributes: [
        { key: CompanyIdKey, value: endpoint.company_id },
        { key: NeedsAttentionKey, value: false },
      ],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return client.workflow.getHandle<typeof webhookDeliveryWorkflow>(workflowId);
    throw err;
  }
}
