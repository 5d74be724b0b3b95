// The settlement callback receiver: the HTTP endpoint a payee bank POSTs its confirmation of an
// accepted payout to. It validates the callback and signals the payout workflow
// (settlementConfirmedSignal); the workflow acts on the first confirmation and ignores repeats.
// It writes nothing itself: the ledger moves only in the workflow's activities.
//
// Every callback must be signed by the bank in the Standard Webhooks scheme
// (src/settlement/webhook-signature.ts): `webhook-id`, `webhook-timestamp` (within 5 minutes of
// this clock) and `webhook-signature` over the raw body with the bank's secret. Anything else is
// refused with 401 before the body is even parsed, and signals nothing.
//
// POST /v1/settlement-callbacks, body `settlementCallbackSchema` (src/settlement/gateway.ts):
//   200 {"result":"delivered"}                 signalled to the running payout (repeats included)
//   200 {"result":"ignored","reason":"payment_closed"}  the payment already finished: a late
//                                              callback, acknowledged so the bank stops sending it
//   400 {"error":"..."}                        not JSON, or not a valid callback (names the field)
//   401 {"error":"callback signature: ..."}    unsigned, badly signed, or outside the replay window
//   404 {"error":"unknown payment ..."}        no payout with that id
//   413 {"error":"..."}                        body over CALLBACK_BYTES_MAX
//   503 {"error":"..."}                        Temporal unreachable: the bank should retry
// GET /healthz answers 200.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { DEBIT_KEY_PREFIX, billingWorkflowId, directDebitCallbackSchema, statementIdOf } from '../domain/billing.js';
import { directDebitAnsweredSignal } from '../workflows/billing-messages.js';
import type { Logger } from '../logger.js';
import { paymentWorkflowId } from '../domain/payment.js';
import { describeIssue } from '../domain/validation.js';
import { settlementConfirmedSignal } from '../workflows/messages.js';
import { settlementCallbackSchema } from './gateway.js';
import { verifyWebhook } from './webhook-signature.js';

export const CALLBACK_PATH = '/v1/settlement-callbacks';
/** Largest callback body accepted, in bytes: a confirmation is a few hundred. */
export const CALLBACK_BYTES_MAX = 8 * 1024;
/** How long one callback may take to reach Temporal before the bank is told to retry. */
const SIGNAL_TIMEOUT_MS = 10_000;

export interface CallbackReceiverOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  client: Client;
  log: Logger;
  /** The bank's signing secrets (src/settlement/callback-secret.ts); a callback signed by any counts. */
  secrets: readonly Buffer[];
  /** The clock the replay window is measured on (tests move it). */
  now_ms?: () => number;
}

export interface SettlementCallbackReceiver {
  /** Where banks POST their callbacks (the full URL, path included). */
  url: string;
  server: Server;
  close(): Promise<void>;
}

export class BodyTooLargeError extends Error {}

/** A request's body as text, refused (BodyTooLargeError) past `bytes_max`; the webhook receiver
 * (src/events/receiver.ts) reads its bodies with it too. */
export async function readBody(req: IncomingMessage, bytes_max: number = CALLBACK_BYTES_MAX): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > bytes_max) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > bytes_max) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Whether a payment workflow exists (running or closed) under this id. */
async function paymentExists(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export async function startSettlementCallbackReceiver(options: CallbackReceiverOptions): Promise<SettlementCallbackReceiver> {
  const { client, log } = options;
  if (options.secrets.length === 0) throw new Error('the settlement callback receiver needs the bank secret it verifies callbacks with');
  const now_ms = options.now_ms ?? Date.now;

  async function handle(req: IncomingMessage): Promise<{ status: number; body: Record<string, unknown> }> {
    let raw: string;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return { status: 413, body: { error: `callback body over ${CALLBACK_BYTES_MAX} bytes` } };
      throw err;
    }
    const verdict = verifyWebhook(options.secrets, req.headers, raw, now_ms());
    if (!verdict.ok) return { status: 401, body: { error: `callback signature: ${verdict.reason}` } };
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { status: 400, body: { error: 'callback body is not JSON' } };
    }
    // Direct debits (billing) are named `debit:<statement id>`: their answer goes to the company's
    // billing workflow, which acts on it once (a repeat of an answer changes nothing).
    const key = (json as { idempotency_key?: unknown } | null)?.idempotency_key;
    if (typeof key === 'string' && key.startsWith(DEBIT_KEY_PREFIX)) {
      const debit = directDebitCallbackSchema.safeParse(json);
      if (!debit.success) return { status: 400, body: { error: describeIssue(debit.error, 'callback ') } };
      const { idempotency_key: statement, ...answer } = debit.data;
      return signal(
        billingWorkflowId(statement.company_id, statement.currency),
        directDebitAnsweredSignal,
        {
          cycle_number: statement.cycle_number,
          answer,
        },
        { statement_id: statementIdOf(statement.company_id, statement.currency, statement.cycle_number), status: answer.status },
      );
    }
    const parsed = settlementCallbackSchema.safeParse(json);
    if (!parsed.success) return { status: 400, body: { error: describeIssue(parsed.error, 'callback ') } };
    const { idempotency_key: payment_id, ...confirmation } = parsed.data;
    return signal(paymentWorkflowId(payment_id), settlementConfirmedSignal, confirmation, { payment_id, status: confirmation.status });
  }

  /** Signals the workflow the callback names; a closed one is a late callback, none is unknown. */
  async function signal<T extends unknown[]>(
    workflowId: string,
    definition: SignalDefinition<T>,
    payload: T[0],
    about: { payment_id?: string; statement_id?: string; status: string },
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    // The answer names what the callback was about; its status is in the log line only.
    const { status: _status, ...ids } = about;
    try {
      await client.workflow.getHandle(workflowId).signal(definition, ...([payload] as unknown as T));
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      if (await paymentExists(client, workflowId)) {
        log.warn(about, 'settlement callback for a finished workflow ignored (late)');
        return { status: 200, body: { result: 'ignored', reason: 'payment_closed', ...ids } };
      }
      log.warn(about, 'settlement callback for an unknown payment or statement');
      return {
        status: 404,
        body: { error: `unknown ${about.payment_id ? `payment ${about.payment_id}` : `statement ${about.statement_id}`}` },
      };
    }
    log.info(about, 'settlement callback delivered');
    return { status: 200, body: { result: 'delivered', ...ids } };
  }

  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const url = req.url?.split('?')[0];
    if (req.method === 'GET' && url === '/healthz') return reply(200, { ok: true });
    if (url !== CALLBACK_PATH) return reply(404, { error: 'not found' });
    if (req.method !== 'POST') return reply(405, { error: 'use POST' });
    const timeout = AbortSignal.timeout(SIGNAL_TIMEOUT_MS);
    void Promise.race([
      handle(req),
      new Promise<never>((_, reject) => timeout.addEventListener('abort', () => reject(new Error('timed out reaching Temporal')))),
    ]).then(
      ({ status, body }) => {
        if (status === 400 || status === 401 || status === 413) log.warn({ status, error: body.error }, 'settlement callback refused');
        reply(status, body);
      },
      (err: unknown) => {
        log.error({ err }, 'settlement callback not delivered');
        reply(503, { error: `callback not delivered, retry: ${(err as Error).message}` });
      },
    );
  });
  // A body that keeps trickling in is cut off rather than holding a connection forever.
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}${CALLBACK_PATH}`,
    server,
    close: () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return stopped;
    },
  };
}
