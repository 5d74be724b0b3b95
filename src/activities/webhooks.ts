// Webhook delivery activities (issue 16): the delivery workflow (src/workflows/webhook-delivery.ts)
// reads an endpoint's next events in commit order and sends them one at a time, signed per
// Standard Webhooks with the endpoint's secret (src/settlement/webhook-signature.ts, the one
// implementation the bank callbacks use too). An answer other than 2xx, a redirect, a timeout or a
// refused connection is thrown and retried by the activity's retry policy (exponential backoff);
// the workflow disables the endpoint when the policy gives up.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WEBHOOK_EVENT_POLL_MS, WEBHOOK_WAIT_FOR_EVENTS_MS_MAX } from '../domain/webhooks.js';
import { endpointIdSchema, type EndpointStore } from '../events/endpoints.js';
import { EVENT_PAGE_SIZE_MAX, type EventStore, type StoredEvent } from '../events/store.js';
import { parseWebhookSecret, webhookHeaders } from '../settlement/webhook-signature.js';

export interface WebhookActivityDeps {
  events: Pick<EventStore, 'listEvents' | 'getEvent'>;
  endpoints: EndpointStore;
  /** Each POST to an endpoint gives up after this long (connect, send, answer). */
  webhook_timeout_ms: number;
}

/** What an endpoint answers that is kept for the failure's message, at most. */
const ANSWER_EXCERPT_CHARS_MAX = 200;

/** The body sent for an event (Standard Webhooks' recommended shape: type, timestamp, data). */
export function webhookBody(event: StoredEvent): string {
  return JSON.stringify({
    id: event.event_id,
    type: event.type,
    timestamp: event.created_at.toISOString(),
    company_id: event.company_id,
    data: { object_type: event.object_type, object: event.object },
  });
}

export interface NextWebhookEvents {
  /** The endpoint's status: only an enabled one is delivered to. */
  status: 'enabled' | 'disabled' | 'deleted' | 'missing';
  events: Array<{ event_id: string; type: string; object_id: string; cursor: string }>;
  next: string | null;
}

export function createWebhookActivities({ events, endpoints, webhook_timeout_ms }: WebhookActivityDeps) {
  if (!(Number.isSafeInteger(webhook_timeout_ms) && webhook_timeout_ms >= 100 && webhook_timeout_ms <= 60_000)) {
    throw new Error(`webhook_timeout_ms must be 100..60000, got ${webhook_timeout_ms}`);
  }
  return {
    /** The endpoint's next events after `after` (null: from its creation), in commit order;
     * with none yet, waits up to `wait_ms` for some (looking every WEBHOOK_EVENT_POLL_MS). */
    async nextWebhookEvents(input: {
      endpoint_id: string;
      after: string | null;
      limit: number;
      wait_ms: number;
    }): Promise<NextWebhookEvents> {
      const endpoint_id = endpointIdSchema.parse(input.endpoint_id);
      if (!(Number.isSafeInteger(input.limit) && input.limit >= 1 && input.limit <= EVENT_PAGE_SIZE_MAX)) {
        throw ApplicationFailure.nonRetryable(`limit must be 1..${EVENT_PAGE_SIZE_MAX}, got ${input.limit}`, 'InvalidWebhookInput');
      }
      if (!(Number.isSafeInteger(input.wait_ms) && input.wait_ms >= 0 && input.wait_ms <= WEBHOOK_WAIT_FOR_EVENTS_MS_MAX)) {
        throw ApplicationFailure.nonRetryable(
          `wait_ms must be 0..${WEBHOOK_WAIT_FOR_EVENTS_MS_MAX}, got ${input.wait_ms}`,
          'InvalidWebhookInput',
        );
      }
      const until_ms = Date.now() + input.wait_ms;
      for (let looks = 1; ; looks += 1) {
        const endpoint = await endpoints.get(endpoint_id);
        if (!endpoint) return { status: 'missing', events: [], next: null };
        if (endpoint.status !== 'enabled') return { status: endpoint.status, events: [], next: input.after };
        const page = await events.listEvents(
          {
            company_ids: [endpoint.company_id],
            types: endpoint.event_types.includes('*') ? undefined : endpoint.event_types,
            after_tx: endpoint.created_tx,
          },
          { after: input.after ?? undefined, limit: input.limit },
        );
        const cancelled = Context.current().cancellationSignal.aborted;
        if (page.events.length > 0 || Date.now() + WEBHOOK_EVENT_POLL_MS > until_ms || cancelled) {
          return {
            status: 'enabled',
            events: page.events.map((e) => ({ event_id: e.event_id, type: e.type, object_id: e.object_id, cursor: e.cursor })),
            next: page.next,
          };
        }
        Context.current().heartbeat(looks);
        await Context.current().sleep(WEBHOOK_EVENT_POLL_MS);
      }
    },

    /** Sends one event, signed; resolves on a 2xx answer. A deleted endpoint is not sent to. */
    async deliverWebhook(input: { endpoint_id: string; event_id: string }): Promise<{ status: number } | { skipped: string }> {
      const found = await endpoints.signingSecret(endpointIdSchema.parse(input.endpoint_id));
      if (!found || found.endpoint.status === 'deleted') return { skipped: 'endpoint deleted' };
      const event = await events.getEvent(input.event_id);
      if (!event || event.company_id !== found.endpoint.company_id) {
        throw ApplicationFailure.nonRetryable(`event ${input.event_id} is not an event of this endpoint's company`, 'InvalidWebhookInput');
      }
      const body = webhookBody(event);
      const key = parseWebhookSecret(found.secret, `endpoint ${found.endpoint.endpoint_id}`);
      const headers = webhookHeaders(key, { id: event.event_id, timestamp_s: Math.floor(Date.now() / 1000), body });
      let response: Response;
      try {
        response = await fetch(found.endpoint.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'card-payments-webhooks/1', ...headers },
          body,
          // A redirect is an answer, not an instruction: following it would let an endpoint
          // point the platform's requests at any other address (SSRF).
          redirect: 'manual',
          signal: AbortSignal.timeout(webhook_timeout_ms),
        });
      } catch (err) {
        throw new Error(`POST ${found.endpoint.url} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      const excerpt = (await response.text().catch(() => '')).slice(0, ANSWER_EXCERPT_CHARS_MAX);
      if (response.status >= 200 && response.status < 300) return { status: response.status };
      throw new Error(`POST ${found.endpoint.url} answered ${response.status}${excerpt ? `: ${excerpt}` : ''}`);
    },

    /** Disables an endpoint that failed for good, with the reason ops see. */
    async disableWebhookEndpoint(input: { endpoint_id: string; reason: string }): Promise<{ disabled: boolean }> {
      return { disabled: await endpoints.setStatus(endpointIdSchema.parse(input.endpoint_id), 'disabled', input.reason) };
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
