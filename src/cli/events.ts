// `events ...`: cardplatform.events.v1.EventService: a company's webhook endpoints, its events, and
// `events listen`, which receives them on this machine (a verifying receiver on 127.0.0.1, an
// endpoint registered for it, deleted again on Ctrl-C).
import { Command } from 'commander';
import {
  CreateWebhookEndpointResponseSchema,
  DeleteWebhookEndpointResponseSchema,
  ListEventsResponseSchema,
  ListWebhookEndpointsResponseSchema,
  type Event,
  type WebhookEndpoint,
} from '../gen/cardplatform/events/v1/events_pb.js';
import { startWebhookReceiver } from '../events/receiver.js';
import { integerIn } from './args.js';
import { apiContext } from './context.js';
import { table } from './output.js';

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter((s) => s !== '')];

function renderEndpoints(endpoints: WebhookEndpoint[]): string {
  if (endpoints.length === 0) return 'no webhook endpoints';
  return table(
    endpoints.map((e) => ({
      endpoint: e.endpointId,
      company: e.companyId,
      url: e.url,
      types: e.eventTypes.join(','),
      status: e.status,
      reason: e.statusReason,
    })),
    ['endpoint', 'company', 'url', 'types', 'status', 'reason'],
  );
}

function renderEvents(events: Event[], next: string, more: boolean): string {
  const rows = events.map((e) => {
    const object = JSON.parse(e.objectJson) as Record<string, unknown>;
    return { at: e.createdAt, event: e.eventId, type: e.type, object: e.objectId, status: String(object.status ?? '') };
  });
  const body = rows.length === 0 ? 'no events' : table(rows, ['at', 'event', 'type', 'object', 'status']);
  return `${body}\nnext page: --page-token ${next}${more ? '' : ' (nothing more yet)'}`;
}

export function eventsCommand(): Command {
  const events = new Command('events').description("a company's events and webhook endpoints (EventService)");

  const endpoints = events.command('endpoints').description('webhook endpoints: where events are POSTed, signed');
  endpoints
    .command('create')
    .description('register an endpoint; prints its signing secret (whsec_...), shown only this once')
    .argument('<url>', 'http(s) URL the events are POSTed to')
    .requiredOption('--company <company-id>', 'the company whose events it receives')
    .option('--type <type>', 'an event type (payment.settled, ...; repeat or comma-separate); default: all', list)
    .action(async (url: string, o: { company: string; type?: string[] }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.events.createWebhookEndpoint({ companyId: o.company, url, eventTypes: o.type ?? ['*'] });
      out.message(
        CreateWebhookEndpointResponseSchema,
        res,
        () => `${renderEndpoints(res.endpoint ? [res.endpoint] : [])}\nsecret (shown once): ${res.secret}`,
      );
    });
  endpoints
    .command('list')
    .description("your companies' endpoints (secrets are never shown again)")
    .action(async (_o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.events.listWebhookEndpoints({});
      out.message(ListWebhookEndpointsResponseSchema, res, () => renderEndpoints(res.endpoints));
    });
  endpoints
    .command('delete')
    .description('stop delivering to an endpoint (its events stay readable with `events list`)')
    .argument('<endpoint-id>', 'we_...')
    .action(async (endpoint_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.events.deleteWebhookEndpoint({ endpointId: endpoint_id });
      out.message(DeleteWebhookEndpointResponseSchema, res, () => `deleted ${endpoint_id}`);
    });

  events
    .command('list')
    .description('events in the order they happened (per payment, the order of its changes), one page')
    .option('--type <type>', 'only this type (repeat or comma-separate)', list)
    .option('--object <id>', 'only the events of this payment')
    .option('--page-size <n>', 'events per page (1..500)', integerIn(1, 500), 100)
    .option('--page-token <token>', 'the next page token a previous page printed')
    .action(async (o: { type?: string[]; object?: string; pageSize: number; pageToken?: string }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.events.listEvents({
        types: o.type ?? [],
        objectId: o.object ?? '',
        pageSize: o.pageSize,
        pageToken: o.pageToken ?? '',
      });
      out.message(ListEventsResponseSchema, res, () => renderEvents(res.events, res.nextPageToken, res.more));
    });

  events
    .command('listen')
    .description(
      'receive events on this machine: starts a receiver on 127.0.0.1 that verifies each signature, registers an endpoint for it, prints each event as it arrives, and deletes the endpoint on Ctrl-C',
    )
    .requiredOption('--company <company-id>', 'the company whose events to receive')
    .option('--type <type>', 'an event type (repeat or comma-separate); default: all', list)
    .option('--port <port>', 'the receiver port (default: a free one)', integerIn(0, 65_535), 0)
    .action(async (o: { company: string; type?: string[]; port: number }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const receiver = await startWebhookReceiver({
        host: '127.0.0.1',
        port: o.port,
        on_event: (e) => {
          const object = e.body.data.object;
          if (out.json) process.stdout.write(`${JSON.stringify(e.body)}\n`);
          else
            process.stdout.write(
              `${e.body.timestamp}  ${e.body.type.padEnd(20)}  ${String(object.paymentId ?? '')}  ${String(object.status ?? '')}  ${e.webhook_id}\n`,
            );
        },
        on_refused: (status, reason) => process.stderr.write(`refused a delivery: ${status} ${reason}\n`),
      });
      const res = await clients.events.createWebhookEndpoint({ companyId: o.company, url: receiver.url, eventTypes: o.type ?? ['*'] });
      receiver.setSecret(res.secret);
      const endpoint_id = res.endpoint!.endpointId;
      process.stderr.write(`listening on ${receiver.url} as endpoint ${endpoint_id}; Ctrl-C stops and deletes it\n`);
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
      });
      await clients.events.deleteWebhookEndpoint({ endpointId: endpoint_id });
      await receiver.close();
      process.stderr.write(`deleted endpoint ${endpoint_id}\n`);
    });
  return events;
}
