// cardplatform.events.v1.EventService (issue 16 point 5): a company's webhook endpoints and its
// events. Tenancy as everywhere in the API: a caller sees and changes only its companies' endpoints
// and events; another company's endpoint is NOT_FOUND. Creating an endpoint starts its delivery
// workflow (src/workflows/webhook-delivery.ts) on the background task queue; deleting one ends it.
// Secrets are answered once, by CreateWebhookEndpoint, and never logged.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Client } from '@temporalio/client';
import { EventService } from '../../gen/cardplatform/events/v1/events_pb.js';
import { eventTypeSchema } from '../../domain/events.js';
import { paymentIdSchema } from '../../domain/payment.js';
import { describeIssue } from '../../domain/validation.js';
import type { WebhookDeliveryOptions } from '../../domain/webhooks.js';
import {
  EndpointLimitError,
  InvalidEndpointError,
  endpointIdSchema,
  type EndpointStore,
  type WebhookEndpoint,
} from '../../events/endpoints.js';
import {
  EVENT_OBJECT_ID_LENGTH_MAX,
  EVENT_PAGE_SIZE_DEFAULT,
  EVENT_PAGE_SIZE_MAX,
  InvalidEventError,
  type EventStore,
} from '../../events/store.js';
import { startWebhookDelivery } from '../webhooks.js';
import { scopeOf } from './auth.js';
import { invalidArgument, notFound } from './errors.js';

export interface EventServiceDeps {
  client: Client;
  events: EventStore;
  endpoints: EndpointStore;
  /** Where delivery workflows run (TEMPORAL_TASK_QUEUE: background work, never authorizations). */
  task_queue: string;
  webhook_options?: WebhookDeliveryOptions;
}

/** Types one ListEvents call may filter by. */
const LIST_TYPES_MAX = 32;

function endpointToProto(e: WebhookEndpoint) {
  return {
    endpointId: e.endpoint_id,
    companyId: e.company_id,
    url: e.url,
    eventTypes: e.event_types,
    status: e.status,
    statusReason: e.status_reason ?? '',
    createdAt: e.created_at.toISOString(),
  };
}

export function createEventService(deps: EventServiceDeps): ServiceImpl<typeof EventService> {
  const { client, events, endpoints } = deps;
  const visibleEndpoint = async (ctx: HandlerContext, endpoint_id: string): Promise<WebhookEndpoint> => {
    const parsed = endpointIdSchema.safeParse(endpoint_id);
    if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, 'endpoint_id'));
    const endpoint = await endpoints.get(parsed.data);
    if (!endpoint || endpoint.status === 'deleted' || !scopeOf(ctx.values).company_ids.has(endpoint.company_id)) {
      throw notFound('webhook endpoint');
    }
    return endpoint;
  };

  return {
    async createWebhookEndpoint(req, ctx) {
      const company = paymentIdSchema.safeParse(req.companyId);
      if (!company.success) throw invalidArgument(describeIssue(company.error, 'company_id'));
      if (!scopeOf(ctx.values).company_ids.has(company.data)) throw notFound('company');
      let created;
      try {
        created = await endpoints.create({ company_id: company.data, url: req.url, event_types: req.eventTypes });
      } catch (err) {
        if (err instanceof InvalidEndpointError) throw invalidArgument(err.message);
        if (err instanceof EndpointLimitError) throw new ConnectError(err.message, Code.ResourceExhausted);
        throw err;
      }
      const { endpoint, secret } = created;
      try {
        await startWebhookDelivery(client, endpoint, deps.task_queue, deps.webhook_options);
      } catch (err) {
        // Without its delivery workflow the endpoint would never be sent to: it is not created.
        await endpoints.setStatus(endpoint.endpoint_id, 'deleted', 'its delivery could not be started');
        throw err;
      }
      return { endpoint: endpointToProto(endpoint), secret };
    },

    async listWebhookEndpoints(_req, ctx) {
      return { endpoints: (await endpoints.list([...scopeOf(ctx.values).company_ids])).map(endpointToProto) };
    },

    async deleteWebhookEndpoint(req, ctx) {
      const endpoint = await visibleEndpoint(ctx, req.endpointId);
      // Its delivery workflow sees it at its next look for events (every WEBHOOK_EVENT_POLL_MS) and ends.
      await endpoints.setStatus(endpoint.endpoint_id, 'deleted', null);
      return {};
    },

    async listEvents(req, ctx) {
      if (req.types.length > LIST_TYPES_MAX) throw invalidArgument(`types: at most ${LIST_TYPES_MAX}`);
      for (const type of req.types) {
        const parsed = eventTypeSchema.safeParse(type);
        if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, 'types'));
      }
      if (req.objectId !== '' && req.objectId.length > EVENT_OBJECT_ID_LENGTH_MAX)
        throw invalidArgument(`object_id: at most ${EVENT_OBJECT_ID_LENGTH_MAX} characters`);
      const page_size = req.pageSize === 0 ? EVENT_PAGE_SIZE_DEFAULT : req.pageSize;
      if (!(page_size >= 1 && page_size <= EVENT_PAGE_SIZE_MAX)) throw invalidArgument(`page_size: must be 1..${EVENT_PAGE_SIZE_MAX}`);
      let page;
      try {
        page = await events.listEvents(
          {
            company_ids: [...scopeOf(ctx.values).company_ids],
            types: req.types,
            object_id: req.objectId === '' ? undefined : req.objectId,
          },
          { after: req.pageToken === '' ? undefined : req.pageToken, limit: page_size },
        );
      } catch (err) {
        if (err instanceof InvalidEventError) throw invalidArgument(err.message);
        throw err;
      }
      return {
        events: page.events.map((e) => ({
          eventId: e.event_id,
          type: e.type,
          companyId: e.company_id,
          objectType: e.object_type,
          objectId: e.object_id,
          objectJson: JSON.stringify(e.object),
          createdAt: e.created_at.toISOString(),
        })),
        nextPageToken: page.next,
        more: page.more,
      };
    },
  };
}
