// One workflow per webhook endpoint (id webhook-endpoint-<endpoint id>): reads the endpoint's events
// in commit order and delivers them one at a time, each retried with exponential backoff until it
// succeeds or `give_up_after_ms` (three days) has passed; then the endpoint is disabled, the
// workflow flagged NeedsAttention (ops find it in the Web UI) and it ends. One at a time keeps the
// order per object (and per endpoint); the cursor lives in the workflow's history and is carried
// across continue-as-new, so a worker crash loses nothing and re-sends at most the event in flight
// (at least once: receivers dedupe on webhook-id, which is the event id).
import {
  ActivityFailure,
  ApplicationFailure,
  continueAsNew,
  log,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NeedsAttentionKey } from '../domain/search-attributes.js';
import {
  DEFAULT_WEBHOOK_DELIVERY_OPTIONS,
  WEBHOOK_HISTORY_EVENTS_MAX,
  deliveryAttemptsMax,
  webhookOptionsProblem,
  type WebhookDeliveryOptions,
} from '../domain/webhooks.js';

/** Reads wait for events up to WEBHOOK_WAIT_FOR_EVENTS_MS_MAX (25 s), heartbeating each look. */
const reads = proxyActivities<Activities>({
  startToCloseTimeout: '40 seconds',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** The innermost failure's message: the endpoint's last answer under the retry timeout. */
function deepestMessage(err: Error): string {
  let message = err.message;
  for (let e: unknown = err.cause, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth += 1) message = e.message;
  return message;
}

export interface WebhookDeliveryCarried {
  cursor: string | null;
  delivered_total: number;
}

export interface WebhookDeliveryResult {
  endpoint_id: string;
  status: 'deleted' | 'disabled' | 'missing';
  delivered_total: number;
}

export async function webhookDeliveryWorkflow(
  input: { endpoint_id: string },
  options: WebhookDeliveryOptions = DEFAULT_WEBHOOK_DELIVERY_OPTIONS,
  carried: WebhookDeliveryCarried = { cursor: null, delivered_total: 0 },
): Promise<WebhookDeliveryResult> {
  const problem = webhookOptionsProblem(options);
  if (problem) throw ApplicationFailure.nonRetryable(`webhook delivery options: ${problem}`, 'InvalidWebhookInput');
  const attempts_max = deliveryAttemptsMax(options);
  const deliveries = proxyActivities<Activities>({
    // Each attempt: one POST with its own timeout (WEBHOOK_TIMEOUT_MS) inside this bound.
    startToCloseTimeout: '1 minute',
    retry: {
      initialInterval: options.retry_initial_ms,
      backoffCoefficient: 2,
      maximumInterval: options.retry_max_ms,
      maximumAttempts: attempts_max,
    },
  });
  let { cursor, delivered_total } = carried;
  let delivered_this_run = 0;
  for (;;) {
    const info = workflowInfo();
    if (
      delivered_this_run >= options.events_per_run_max ||
      info.historyLength >= WEBHOOK_HISTORY_EVENTS_MAX ||
      info.continueAsNewSuggested
    ) {
      return continueAsNew<typeof webhookDeliveryWorkflow>(input, options, { cursor, delivered_total });
    }
    const page = await reads.nextWebhookEvents({
      endpoint_id: input.endpoint_id,
      after: cursor,
      limit: options.batch_size,
      wait_ms: options.wait_for_events_ms,
    });
    if (page.status !== 'enabled') {
      log.info('webhook endpoint is not enabled: delivery ends', { endpoint_id: input.endpoint_id, status: page.status });
      return { endpoint_id: input.endpoint_id, status: page.status, delivered_total };
    }
    for (const event of page.events) {
      try {
        await deliveries.deliverWebhook({ endpoint_id: input.endpoint_id, event_id: event.event_id });
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        const cause = deepestMessage(err);
        const reason = `event ${event.event_id} (${event.type}) undelivered after ${attempts_max} attempts over ${options.give_up_after_ms} ms: ${cause}`;
        await reads.disableWebhookEndpoint({ endpoint_id: input.endpoint_id, reason });
        upsertSearchAttributes([{ key: NeedsAttentionKey, value: true }]);
        log.warn('webhook endpoint disabled', { endpoint_id: input.endpoint_id, reason });
        return { endpoint_id: input.endpoint_id, status: 'disabled', delivered_total };
      }
      cursor = event.cursor;
      delivered_total += 1;
      delivered_this_run += 1;
    }
  }
}
