// Webhook delivery settings (issue 16), shared by the delivery workflow, the API that starts it and
// the tests. No I/O (workflows import it).
export const WEBHOOK_DAY_MS = 24 * 60 * 60 * 1000;

export interface WebhookDeliveryOptions {
  /** Events read per page, at most. */
  batch_size: number;
  /** With nothing to send, the next look is this long after the last, doubling up to the max. */
  idle_wait_ms_min: number;
  idle_wait_ms_max: number;
  /** Retries of one event: exponential backoff from the initial interval, capped at the max... */
  retry_initial_ms: number;
  retry_max_ms: number;
  /** ...until this long after its first attempt; then the endpoint is disabled and flagged. */
  give_up_after_ms: number;
  /** Events one run sends before it continues as new (bounds the history). */
  events_per_run_max: number;
}

/** Three days of retries, backing off to an hour between attempts: about 80 attempts. */
export const DEFAULT_WEBHOOK_DELIVERY_OPTIONS: WebhookDeliveryOptions = {
  batch_size: 50,
  idle_wait_ms_min: 1_000,
  idle_wait_ms_max: 30_000,
  retry_initial_ms: 5_000,
  retry_max_ms: 60 * 60 * 1000,
  give_up_after_ms: 3 * WEBHOOK_DAY_MS,
  events_per_run_max: 500,
};

export const WEBHOOK_BATCH_SIZE_MAX = 500;

export function webhookDeliveryWorkflowId(endpoint_id: string): string {
  return `webhook-endpoint-${endpoint_id}`;
}

/** What is wrong with `options`, or null. */
export function webhookOptionsProblem(options: WebhookDeliveryOptions): string | null {
  for (const [name, value] of Object.entries(options)) {
    if (!(Number.isSafeInteger(value) && value >= 1)) return `${name} must be a positive integer, got ${String(value)}`;
  }
  if (options.batch_size > WEBHOOK_BATCH_SIZE_MAX) return `batch_size must be at most ${WEBHOOK_BATCH_SIZE_MAX}`;
  if (options.idle_wait_ms_min > options.idle_wait_ms_max) return 'idle_wait_ms_min must not exceed idle_wait_ms_max';
  if (options.retry_initial_ms > options.retry_max_ms) return 'retry_initial_ms must not exceed retry_max_ms';
  return null;
}
