// The front door: one port speaking gRPC (HTTP/2), gRPC-Web and Connect (HTTP/1.1 or HTTP/2,
// JSON or binary). Each connection's first bytes decide: the HTTP/2 preface goes to the HTTP/2
// server (h2c), anything else to the HTTP/1.1 server, so `curl` works without flags.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Code, ConnectError, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { CardService } from '../../gen/cardplatform/cards/v1/cards_pb.js';
import { LedgerService } from '../../gen/cardplatform/ledger/v1/ledger_pb.js';
import { PaymentService } from '../../gen/cardplatform/payments/v1/payments_pb.js';
import type { CardStore } from '../../cards/cards.js';
import type { CardWorkflowOptions } from '../../domain/card.js';
import type { PayoutWorkflowOptions } from '../../domain/payment.js';
import type { Ledger } from '../../ledger/ledger.js';
import { SpanKind, traced } from '../../telemetry/spans.js';
import type { ApiKeyStore } from '../keys.js';
import { authInterceptor, scopeKey } from './auth.js';
import type { ApiMetrics } from './metrics.js';
import { createCardService } from './cards-service.js';
import { toConnectError } from './errors.js';
import { createLedgerService } from './ledger-service.js';
import { createPaymentService } from './payments-service.js';

/** Largest request message accepted, in bytes: every request of this API is small. */
export const REQUEST_BYTES_MAX = 64 * 1024;
/** Connections served at once; beyond it new ones wait in the kernel's backlog. */
const CONNECTIONS_MAX = 1_000;
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface ApiServerDeps {
  client: Client;
  ledger: Ledger;
  cards: CardStore;
  keys: ApiKeyStore;
  task_queue: string;
  payout_options: PayoutWorkflowOptions;
  card_options?: CardWorkflowOptions;
  log: Logger;
  metrics?: ApiMetrics;
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
  const routes = (router: ConnectRouter) => {
    router.service(PaymentService, createPaymentService(deps));
    router.service(LedgerService, createLedgerService(deps));
    router.service(CardService, createCardService(deps));
  };
  const handler = connectNodeAdapter({
    routes,
    interceptors: [
      tracingInterceptor,
      ...(deps.metrics ? [deps.metrics.interceptor] : []),
      loggingInterceptor(deps.log),
      errorInterceptor(deps.log),
      authInterceptor(deps.keys, deps.log),
    ],
    readMaxBytes: REQUEST_BYTES_MAX,
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
  return {
    url: `http://${listen.host}:${address.port}`,
    port: address.port,
    async close() {
      await new Promise<void>((resolve) => front.close(() => resolve()));
      h1.close();
      h2.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
