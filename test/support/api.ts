// The API server against the real worker, Temporal and Postgres of a payments harness, and an
// independent gRPC client for it: @grpc/grpc-js with the .proto files loaded at run time, so the
// tests do not share the server's generated code or its Connect stack.
import { createStatementStore } from '../../src/ledger/statements.js';
import { createStandInAdviceStore } from '../../src/api/stand-in-advices.js';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import pino, { type Logger } from 'pino';
import { createApiKeyStore, type ApiKeyStore } from '../../src/api/keys.js';
import type { AdmissionControl } from '../../src/api/admission.js';
import type { ApiMetrics } from '../../src/api/rpc/metrics.js';
import { startApiServer, type ApiServer } from '../../src/api/rpc/server.js';
import { REPO_ROOT } from '../../src/config.js';
import { DEFAULT_CARD_OPTIONS, type CardWorkflowOptions } from '../../src/domain/card.js';
import type { DisputeWorkflowOptions } from '../../src/domain/dispute.js';
import { startPaymentsHarness, type HarnessOptions, type PaymentsHarness } from './payments.js';
import { testKeyRing } from './codec.js';
import type { WebhookDeliveryOptions } from '../../src/domain/webhooks.js';
import { createEndpointStore } from '../../src/events/endpoints.js';
import { createEventStore } from '../../src/events/store.js';

const PROTO_ROOT = path.join(REPO_ROOT, 'proto');

export interface CallOptions {
  /** The API key to send; null sends no authorization header. Default: the harness's key. */
  key?: string | null;
  deadline_ms?: number;
}
/** A loaded service client: each method takes a request (plain object, proto field names) and
 * resolves with the response or rejects with the grpc-js ServiceError. */
export type RpcClient<M extends string = string> = Record<M, (request: object, options?: CallOptions) => Promise<any>>;

export type PaymentsMethod = 'Authorize' | 'Increment' | 'Reverse' | 'Clear' | 'Refund' | 'Payout' | 'GetPayment' | 'ListPayments';
export type LedgerMethod = 'CreateCreditLine' | 'GetAccount' | 'ListTransfers';
export type CardsMethod =
  'IssueCard' | 'GetCard' | 'FreezeCard' | 'UnfreezeCard' | 'SetCardRules' | 'SetSpendLimits' | 'SetCompanySpendLimits';
export type BillingMethod = 'StartBilling' | 'ListStatements' | 'GetStatement' | 'RecordRepayment';
export type DisputesMethod = 'OpenDispute' | 'GetDispute' | 'ListDisputes' | 'WithdrawDispute' | 'RecordNetworkResponse';
export type EventsMethod = 'CreateWebhookEndpoint' | 'ListWebhookEndpoints' | 'DeleteWebhookEndpoint' | 'ListEvents';

export interface ApiHarness {
  h: PaymentsHarness;
  server: ApiServer;
  keys: ApiKeyStore;
  payments: RpcClient<PaymentsMethod>;
  ledger: RpcClient<LedgerMethod>;
  cards: RpcClient<CardsMethod>;
  billing: RpcClient<BillingMethod>;
  disputes: RpcClient<DisputesMethod>;
  events: RpcClient<EventsMethod>;
  close(): Promise<void>;
}

function loadService(file: string, service: string): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(path.join(PROTO_ROOT, file), {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition);
  const ctor = service.split('.').reduce<unknown>((o, part) => (o as Record<string, unknown>)[part], loaded);
  return ctor as grpc.ServiceClientConstructor;
}

/** Wraps a grpc-js client so each call is a promise; `key` null sends no authorization. */
export function promisify<M extends string>(client: grpc.Client, defaultKey: string): RpcClient<M> {
  const methods: Record<string, RpcClient[string]> = {};
  const proto = Object.getPrototypeOf(client) as Record<string, unknown>;
  for (const name of Object.keys(proto)) {
    const fn = proto[name];
    if (typeof fn !== 'function' || name === 'constructor') continue;
    methods[name] = (request, options = {}) =>
      new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        const key = options.key === undefined ? defaultKey : options.key;
        if (key !== null) metadata.set('authorization', `Bearer ${key}`);
        const callOptions: grpc.CallOptions = { deadline: Date.now() + (options.deadline_ms ?? 30_000) };
        (fn as Function).call(client, request, metadata, callOptions, (err: grpc.ServiceError | null, response: unknown) =>
          err ? reject(err) : resolve(response),
        );
      });
  }
  return methods as RpcClient<M>;
}

export interface ApiHarnessOptions extends HarnessOptions {
  companies: string[];
  card_options?: CardWorkflowOptions;
  dispute_options?: DisputeWorkflowOptions;
  /** The server's logger (default: silent); a test passes its own to read what was logged. */
  log?: Logger;
  /** Admission control of the server (default: none, unbounded). */
  admission?: AdmissionControl;
  metrics?: ApiMetrics;
  /** Delivery settings of the webhook endpoints created through this server (tests shorten them). */
  webhook_options?: WebhookDeliveryOptions;
}

/** Independent grpc-js clients of an API server on this port, sending `key` by default. */
export function grpcClients(port: number, key: string) {
  const address = `127.0.0.1:${port}`;
  const make = (file: string, service: string) =>
    new (loadService(file, service))(address, grpc.credentials.createInsecure()) as unknown as grpc.Client;
  const clients = {
    payments: make('cardplatform/payments/v1/payments.proto', 'cardplatform.payments.v1.PaymentService'),
    ledger: make('cardplatform/ledger/v1/ledger.proto', 'cardplatform.ledger.v1.LedgerService'),
    cards: make('cardplatform/cards/v1/cards.proto', 'cardplatform.cards.v1.CardService'),
    billing: make('cardplatform/billing/v1/billing.proto', 'cardplatform.billing.v1.BillingService'),
    disputes: make('cardplatform/disputes/v1/disputes.proto', 'cardplatform.disputes.v1.DisputeService'),
    events: make('cardplatform/events/v1/events.proto', 'cardplatform.events.v1.EventService'),
  };
  return {
    payments: promisify<PaymentsMethod>(clients.payments, key),
    ledger: promisify<LedgerMethod>(clients.ledger, key),
    cards: promisify<CardsMethod>(clients.cards, key),
    billing: promisify<BillingMethod>(clients.billing, key),
    disputes: promisify<DisputesMethod>(clients.disputes, key),
    events: promisify<EventsMethod>(clients.events, key),
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}

export async function startApiHarness(label: string, options: ApiHarnessOptions): Promise<ApiHarness & { key: string }> {
  const h = await startPaymentsHarness(label, options);
  const keys = createApiKeyStore(h.pool);
  const log = options.log ?? pino({ level: 'silent' });
  const server = await startApiServer(
    {
      client: h.client,
      ledger: h.ledger,
      cards: h.cards,
      statements: createStatementStore(h.pool),
      keys,
      stand_in_advices: createStandInAdviceStore(h.pool),
      task_queue: h.task_queue,
      payout_options: { settlement_attention_after_ms: 3_600_000 },
      card_options: options.card_options ?? { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 },
      ...(options.dispute_options ? { dispute_options: options.dispute_options } : {}),
      log,
      ...(options.admission ? { admission: options.admission } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      events: {
        events: createEventStore(h.pool),
        endpoints: createEndpointStore(h.pool, testKeyRing()),
        ...(options.webhook_options ? { webhook_options: options.webhook_options } : {}),
      },
    },
    { host: '127.0.0.1', port: 0 },
  );
  const { api_key } = await keys.create({ name: `${label}-${randomUUID().slice(0, 8)}`, company_ids: options.companies });
  const clients = grpcClients(server.port, api_key);
  return {
    h,
    server,
    keys,
    key: api_key,
    payments: clients.payments,
    ledger: clients.ledger,
    cards: clients.cards,
    billing: clients.billing,
    disputes: clients.disputes,
    events: clients.events,
    async close() {
      clients.close();
      await server.close();
      await h.close();
    },
  };
}
