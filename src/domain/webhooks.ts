// Webhook delivery settings (issue 16), shared by the delivery workflow, the API that starts it and
// the tests. No I/O (workflows import it).
export const WEBHOOK_DAY_MS = 24 * 60 * 60 * 1000;

export interface WebhookDeliveryOptions {
  /** Events read per page, at most. */
  batch_size: number;
  /** With nothing to send, one read waits this long for new events (inside the activity, which
   * looks every WEBHOOK_EVENT_POLL_MS): an idle endpoint costs one activity per wait, not a timer
   * and an activity per look. */
  wait_for_events_ms: number;
  /** Retries of one event: exponential backoff from the initial interval, capped at the max... */
  retry_initial_ms: number;
  retry_max_ms: number;
  /** ...until this long after its first attempt; then the endpoint is disabled and flagged. */
  give_up_after_ms: number;
  /** Events one run sends before it continues as new (bounds the history, with
   * WEBHOOK_HISTORY_EVENTS_MAX). */
  events_per_run_max: number;
}

/** How often a waiting read looks for new events (one indexed query each). */
export const WEBHOOK_EVENT_POLL_MS = 250;
/** A read waits at most this long (its activity's start-to-close is longer). */
export const WEBHOOK_WAIT_FOR_EVENTS_MS_MAX = 25_000;
/** A delivery run continues as new past this many history events (idle reads add up). */
export const WEBHOOK_HISTORY_EVENTS_MAX = 5_000;

/** Three days of retries, backing off to an hour between attempts: 81 attempts. */
export const DEFAULT_WEBHOOK_DELIVERY_OPTIONS: WebhookDeliveryOptions = {
  batch_size: 50,
  wait_for_events_ms: 20_000,
  retry_initial_ms: 5_000,
  retry_max_ms: 60 * 60 * 1000,
  give_up_after_ms: 3 * WEBHOOK_DAY_MS,
  events_per_run_max: 500,
};

export const WEBHOOK_BATCH_SIZE_MAX = 500;

export function webhookDeliveryWorkflowId(endpoint_id: string): string {
  return `webhook-endpoint-${endpoint_id}`;
}

/** Attempts of one delivery that fit in `give_up_after_ms` with the options' backoff (each retry
 * waits retry_initial_ms × 2^n, at most retry_max_ms), the first included. Bounding attempts rather
 * than the time keeps the endpoint's last answer in the final failure (a schedule-to-close timeout
 * that fires between attempts carries none), which is what the disabled endpoint's reason shows. */
export function deliveryAttemptsMax(
  options: Pick<WebhookDeliveryOptions, 'retry_initial_ms' | 'retry_max_ms' | 'give_up_after_ms'>,
): number {
  const ATTEMPTS_MAX = 1_000;
  let waited_ms = 0;
  let attempts = 1;
  for (let wait_ms = options.retry_initial_ms; attempts < ATTEMPTS_MAX && waited_ms + wait_ms <= options.give_up_after_ms; attempts += 1) {
    waited_ms += wait_ms;
    wait_ms = Math.min(wait_ms * 2, options.retry_max_ms);
  }
  return attempts;
}

/** What is wrong with `options`, or null. */
export function webhookOptionsProblem(options: WebhookDeliveryOptions): string | null {
  for (const [name, value] of Object.entries(options)) {
    if (!(Number.isSafeInteger(value) && value >= 1)) return `${name} must be a positive integer, got ${String(value)}`;
  }
  if (options.batch_size > WEBHOOK_BATCH_SIZE_MAX) return `batch_size must be at most ${WEBHOOK_BATCH_SIZE_MAX}`;
  if (options.wait_for_events_ms > WEBHOOK_WAIT_FOR_EVENTS_MS_MAX)
    return `wait_for_events_ms must be at most ${WEBHOOK_WAIT_FOR_EVENTS_MS_MAX}`;
  if (options.retry_initial_ms > options.retry_max_ms) return 'retry_initial_ms must not exceed retry_max_ms';
  return null;
}
