// The front door: one port speaking gRPC (HTTP/2), gRPC-Web and Connect (HTTP/1.1 or HTTP/2,
// JSON or binary). Each connection's first bytes decide: the HTTP/2 preface goes to the HTTP/2
// server (h2c), anything else to the HTTP/1.1 server, so `curl` works without flags.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Code, ConnectError, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { createAsyncIterable, readAllBytes, type UniversalHandler } from '@connectrpc/connect/protocol';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { BillingService } from '../../gen/cardplatform/billing/v1/billing_pb.js';
import { CardService } from '../../gen/cardplatform/cards/v1/cards_pb.js';
import { EventService } from '../../gen/cardplatform/events/v1/events_pb.js';
import { LedgerService } from '../../gen/cardplatform/ledger/v1/ledger_pb.js';
import { PaymentService } from '../../gen/cardplatform/payments/v1/payments_pb.js';
import type { CardStore } from '../../cards/cards.js';
import type { CardWorkflowOptions } from '../../domain/card.js';
import type { PayoutWorkflowOptions } from '../../domain/payment.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { StatementStore } from '../../ledger/statements.js';
import { SpanKind, traced } from '../../telemetry/spans.js';
import type { ApiKeyStore } from '../keys.js';
import type { AdmissionControl } from '../admission.js';
import { admissionInterceptor } from './admission-interceptor.js';
import { authInterceptor, scopeKey } from './auth.js';
import type { ApiMetrics } from './metrics.js';
import { createBillingService } from './billing-service.js';
import { createCardService } from './cards-service.js';
import { createEventService, type EventServiceDeps } from './events-service.js';
import { toConnectError } from './errors.js';
import { createLedgerService } from './ledger-service.js';
import { createPaymentService } from './payments-service.js';
import { adviseStartedPayment } from '../card-payments.js';
import { createDoorAdvice, DOOR_ADVICE_DEFAULT, type DoorAdviceLimits, type StandInAdviceStore } from '../door-advice.js';
import { createDisputeService } from './disputes-service.js';
import type { DisputeWorkflowOptions } from '../../domain/dispute.js';
import { DisputeService } from '../../gen/cardplatform/disputes/v1/disputes_pb.js';

/** Largest request message accepted, in bytes: every request of this API is small. */
export const REQUEST_BYTES_MAX = 64 * 1024;
/** Connections served at once; beyond it new ones wait in the kernel's backlog. */
const CONNECTIONS_MAX = 1_000;
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface ApiServerDeps {
  client: Client;
  ledger: Ledger;
  cards: CardStore;
  statements: StatementStore;
  keys: ApiKeyStore;
  task_queue: string;
  /** Where new card payments start (TEMPORAL_AUTHORIZATION_TASK_QUEUE); default task_queue. */
  card_task_queue?: string;
  payout_options: PayoutWorkflowOptions;
  card_options?: CardWorkflowOptions;
  /** The network's dispute deadlines (days in production; short in demos and tests). */
  dispute_options?: DisputeWorkflowOptions;
  log: Logger;
  metrics?: ApiMetrics;
  /** Bounds this process's calls into Temporal (src/api/admission.ts); absent: unbounded. */
  admission?: AdmissionControl;
  /** Events and webhook endpoints (EventService); absent: the service is not served. */
  events?: Omit<EventServiceDeps, 'client' | 'task_queue'>;
  /** Where the door's stand-in advices are owed until delivered (src/api/stand-in-advices.ts). */
  stand_in_advices: StandInAdviceStore;
  /** The relay's limits; default DOOR_ADVICE_DEFAULT. */
  door_advice_limits?: DoorAdviceLimits;
}

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Answers refused here are logged here (authInterceptor logs its own; toConnectError logs
 * unavailable dependencies and internal errors): the method, the gRPC code, the reason and the
 * key id, never the key. */
const LOGGED_REFUSALS: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.FailedPrecondition,
  Code.PermissionDenied,
  Code.ResourceExhausted,
  Code.OutOfRange,
  Code.DeadlineExceeded,
  Code.Canceled,
]);
const grpcCodeName = (code: Code) =>
  Code[code]
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .replace(/^CANCELED$/, 'CANCELLED');

/** Each call is a server span: the Temporal client's spans (and so the workflow's) are its
 * children, so one trace runs from the call to the ledger. */
const tracingInterceptor: Interceptor = (next) => (req) =>
  traced(
    `rpc ${req.service.typeName}/${req.method.name}`,
    { 'rpc.system': 'connect_rpc', 'rpc.service': req.service.typeName, 'rpc.method': req.method.name },
    () => next(req),
    {
      kind: SpanKind.SERVER,
    },
  );

/** One structured line per call: method, code, duration, and the payment it was about. The API
 * key is never logged (auth.ts logs refusals by key id at most). */
function loggingInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const started_ms = performance.now();
    const message = req.message as { paymentId?: unknown; transaction?: { paymentId?: unknown } };
    const payment_id = typeof message.paymentId === 'string' ? message.paymentId : message.transaction?.paymentId;
    const fields = { method: req.method.name, ...(typeof payment_id === 'string' && payment_id ? { payment_id } : {}) };
    try {
      const response = await next(req);
      log.info({ ...fields, code: 'ok', duration_ms: Math.round(performance.now() - started_ms) }, 'api call');
      return response;
    } catch (err) {
      const code = err instanceof ConnectError ? Code[err.code] : 'unknown';
      log.info({ ...fields, code, duration_ms: Math.round(performance.now() - started_ms) }, 'api call');
      throw err;
    }
  };
}

/**
 * Connect answers a binary request it cannot parse (not protobuf, or a string field that is not
 * UTF-8, which a JavaScript client sends for a lone surrogate) with INTERNAL "parse binary: ...",
 * before any interceptor sees the call. The caller sent bad input, so this API answers
 * INVALID_ARGUMENT: in the gRPC trailers and in the Connect error body. (gRPC-Web serializes its
 * trailers into the body inside Connect and keeps Connect's code.)
 */
function parseFailuresAreInvalidArgument(handler: UniversalHandler): UniversalHandler {
  const isParseFailure = (message: string | null | undefined) => /^parse binary\b/.test(decodeURIComponent(message ?? ''));
  const wrapped = async (req: Parameters<UniversalHandler>[0]) => {
    const res = await handler(req);
    const trailer = res.trailer;
    const refusal = `the request is not a valid ${handler.method.input.typeName} in binary protobuf`;
    const fixTrailer = () => {
      if (trailer?.get('grpc-status') === '13' && isParseFailure(trailer.get('grpc-message'))) {
        trailer.set('grpc-status', '3');
        trailer.set('grpc-message', encodeURIComponent(refusal));
      }
    };
    fixTrailer();
    if (res.status === 500 && res.body && res.header?.get('content-type')?.startsWith('application/json')) {
      const bytes = await readAllBytes(res.body, Number.MAX_SAFE_INTEGER);
      let error: { code?: string; message?: string } = {};
      try {
        error = JSON.parse(Buffer.from(bytes).toString('utf8'));
      } catch {
        // not a Connect error body: passed on as it was
      }
      if (error.code === 'internal' && isParseFailure(error.message)) {
        const body = Buffer.from(JSON.stringify({ code: 'invalid_argument', message: refusal }));
        res.header.set('content-length', String(body.byteLength));
        return { ...res, status: 400, body: createAsyncIterable([new Uint8Array(body)]) };
      }
      return { ...res, body: createAsyncIterable([bytes]) };
    }
    if (res.body && trailer) {
      const body = res.body;
      return {
        ...res,
        body: (async function* () {
          yield* body;
          fixTrailer();
        })(),
      };
    }
    return res;
  };
  return Object.assign(wrapped, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    supportedContentType: handler.supportedContentType,
    allowedMethods: handler.allowedMethods,
  });
}

function errorInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const answer = toConnectError(err, log, req.method.name);
      if (LOGGED_REFUSALS.has(answer.code)) {
        const key_id = req.contextValues.get(scopeKey)?.key_id;
        log.info({ method: req.method.name, code: grpcCodeName(answer.code), reason: answer.rawMessage, key_id }, 'call refused');
      }
      throw answer;
    }
  };
}

export async function startApiServer(deps: ApiServerDeps, listen: { host: string; port: number }): Promise<ApiServer> {
  const door_advice = createDoorAdvice(
    (payment_id, stand_in) => adviseStartedPayment(deps.client, payment_id, stand_in),
    deps.stand_in_advices,
    deps.door_advice_limits ?? DOOR_ADVICE_DEFAULT,
    deps.log,
  );
  const routes = (router: ConnectRouter) => {
    router.service(PaymentService, createPaymentService({ ...deps, door_advice }));
    router.service(LedgerService, createLedgerService(deps));
    router.service(CardService, createCardService(deps));
    router.service(BillingService, createBillingService(deps));
    router.service(DisputeService, createDisputeService(deps));
    if (deps.events) router.service(EventService, createEventService({ ...deps.events, client: deps.client, task_queue: deps.task_queue }));
    router.handlers.splice(0, router.handlers.length, ...router.handlers.map(parseFailuresAreInvalidArgument));
  };
  const handler = connectNodeAdapter({
    routes,
    interceptors: [
      tracingInterceptor,
      ...(deps.metrics ? [deps.metrics.interceptor] : []),
      loggingInterceptor(deps.log),
      errorInterceptor(deps.log),
      authInterceptor(deps.keys, deps.log),
      // After authentication: a caller without a key never takes a slot.
      ...(deps.admission ? [admissionInterceptor(deps.admission, deps.client, deps.metrics)] : []),
    ],
    readMaxBytes: REQUEST_BYTES_MAX,
    // Connect ignores unknown JSON fields by default, and with them unknown enum names: a request
    // with "stand_in": "STAND_IN_BOGUS" or a misspelled field would be served as if they were
    // absent. This API refuses both (INVALID_ARGUMENT naming them), as proto3 JSON does by default.
    jsonOptions: { ignoreUnknownFields: false },
    // A liveness probe for supervisors: answers without a key.
    fallback: (req, res) => {
      const ok = req.method === 'GET' && req.url === '/healthz';
      res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
      res.end(ok ? '{"ok":true}' : '{"error":"not found"}');
    },
  });
  const h1 = http.createServer(handler);
  const h2 = http2.createServer(handler);
  const sockets = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (head: Buffer) => {
      socket.pause();
      socket.unshift(head);
      // "PRI " starts only the HTTP/2 preface; no HTTP/1.1 method does.
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const isHttp2 = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      (isHttp2 ? h2 : h1).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  front.maxConnections = CONNECTIONS_MAX;
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(listen.port, listen.host, () => resolve());
  });
  const address = front.address() as net.AddressInfo;
  // Also delivers what a process that died owed (every API process's relay takes any due advice).
  door_advice.start();
  return {
    url: `http://${listen.host}:${address.port}`,
    port: address.port,
    async close() {
      // net.Server.close() calls back only once every connection has ended, and a client's idle
      // keep-alive or HTTP/2 connection may never end by itself: stop listening, then end them.
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      h1.close();
      h2.close();
      for (const socket of sockets) socket.destroy();
      await closed;
      await door_advice.stop();
    },
  };
}
