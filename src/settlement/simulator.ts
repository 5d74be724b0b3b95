// A payee-bank simulator: the stack and the tests send real HTTP payouts to it. Behaviour is
// deterministic per request so tests can choose outcomes:
//   - a payee bank account starting with REJECT is closed: the payout is rejected for good (422);
//   - otherwise the payout settles (200) with a bank reference;
//   - the same idempotency key always gets the first answer back, and money moves once.
// Faults can be injected at configured rates to exercise retries: transient failures (503, nothing
// happened) and lost replies (the payout is made, then the connection drops before the answer).
//
// With a callback URL the bank answers like most real ones: it accepts the payout (202, idempotent
// by key) and POSTs its confirmation (settled with a bank reference, or rejected with a reason),
// signed with its secret (Standard Webhooks, src/settlement/webhook-signature.ts), to the URL
// after `callback_delay_ms`, retrying the callback while the receiver answers 5xx or cannot
// be reached. Callbacks can be repeated at once (duplicates) or again much later (late callbacks,
// typically after the payment finished); requests can be held longer than the caller's timeout
// (the payout is still made once: a retry with the same key joins the held request, or gets the
// stored answer).
//
// Tests script a payout's next answers by idempotency key (`script`): each scripted answer is
// given to one request, before and instead of processing it (the bank did nothing), so a test can
// make the bank answer 401, 409, 425, 5xx, a 422 that is not a rejection, a 200 with a body no
// bank should send, and then let the payout go through.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { describeIssue } from '../domain/validation.js';
import { createNetworkSimulator, type NetworkSimulator } from './network.js';
import type { DirectDebitCallback } from '../domain/billing.js';
import { directDebitInstructionSchema, payoutInstructionSchema, type PayoutResult, type SettlementCallback } from './gateway.js';
import { webhookHeaders } from './webhook-signature.js';

export const REJECTED_ACCOUNT_PREFIX = 'REJECT';
/** A direct debit from an account starting with RETURN is collected, then returned by the
 * company's bank `debit_return_delay_ms` later (a reversed direct debit). */
export const RETURNED_DEBIT_ACCOUNT_PREFIX = 'RETURN';
/** Largest request body accepted, in bytes. */
const REQUEST_BYTES_MAX = 16 * 1024;
/** Idempotency keys remembered; the oldest are forgotten first. */
const IDEMPOTENCY_KEYS_MAX = 100_000;
/** One callback delivery attempt waits this long for the receiver's answer. */
const CALLBACK_TIMEOUT_MS = 5_000;
/** A callback the receiver cannot take (5xx, unreachable) is tried this often, backing off. */
const CALLBACK_ATTEMPTS_MAX = 8;
const CALLBACK_RETRY_MS_MIN = 100;

export interface SimulatorOptions {
  host: string;
  port: number;
  /** Probability in [0, 1) that a new request fails with 503 before being processed. */
  transient_failure_rate: number;
  /** Probability in [0, 1) that a new payout is made but its reply is lost (connection dropped). */
  reply_lost_rate: number;
  latency_ms: number;
  random?: () => number;
  /** When set, payouts are accepted (202) and confirmed by a POST to this URL; else answered at once. */
  callback_url?: string | undefined;
  /** The key callbacks are signed with (Standard Webhooks); required with a callback URL. */
  callback_secret?: Buffer | undefined;
  /** Delay before the confirmation callback (default 0). */
  callback_delay_ms?: number;
  /** Probability in [0, 1) that a confirmation is delivered twice, at once. */
  duplicate_callback_rate?: number;
  /** Probability in [0, 1) that a confirmation is delivered once more, `late_callback_delay_ms` after
   * the payout was accepted (typically after the payment finished). */
  late_callback_rate?: number;
  late_callback_delay_ms?: number;
  /** Probability in [0, 1) that a new request is held `request_hold_ms` before it is processed: longer
   * than the caller's timeout, so the caller gives up and retries with the same key. */
  request_timeout_rate?: number;
  request_hold_ms?: number;
  /** Delay between collecting a direct debit from a RETURN... account and returning it (default 1 s). */
  debit_return_delay_ms?: number;
}

/** A payout or a direct debit, as the simulated bank handles both. */
interface BankInstruction {
  kind: 'payout' | 'debit';
  idempotency_key: string;
  amount_minor: number;
  currency: string;
  bank_account: string;
}

/** One answer a test makes the bank give to the next request for a key; the bank acts on nothing. */
export interface ScriptedAnswer {
  status: number;
  /** Sent as JSON; a string is sent as it is (a body the gateway cannot parse). */
  body?: unknown;
}

/** Scripted answers one key may have queued at once. */
export const SCRIPTED_ANSWERS_MAX = 100;

export type CallbackKind = 'first' | 'duplicate' | 'late';

export interface CallbackDelivery {
  idempotency_key: string;
  kind: CallbackKind;
  body: SettlementCallback | DirectDebitCallback;
  /** The receiver's final HTTP status, or null when it could not be reached (`error` says why). */
  http_status: number | null;
  attempts: number;
  error?: string;
}

export interface SettlementSimulator {
  url: string;
  server: Server;
  /** Direct debits collected, by idempotency key; `returned` once the company's bank returned it. */
  debits: Map<string, { amount_minor: number; currency: string; bank_reference: string; returned: boolean }>;
  /** Payouts that moved money, by idempotency key (for tests and reconciliation). */
  settled: Map<string, { amount_minor: number; currency: string; bank_reference: string }>;
  /** Requests received per idempotency key, retries included. */
  requests: Map<string, number>;
  /** The card network's records and reports, under /network/ (src/settlement/network.ts). */
  network: NetworkSimulator;
  /** New requests held past the caller's timeout (request_timeout_rate). */
  held: number;
  /** New requests answered 503 (transient_failure_rate) and payouts whose reply was dropped (reply_lost_rate). */
  transient_failures: number;
  replies_lost: number;
  /** Confirmation callbacks delivered or given up on, in the order they finished. */
  callbacks: CallbackDelivery[];
  /** Queues answers for the next requests with this idempotency key (see ScriptedAnswer). */
  script(idempotency_key: string, answers: ScriptedAnswer[]): void;
  /** Scripted answers given so far, per key. */
  scripted: Map<string, number>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > REQUEST_BYTES_MAX) throw new Error(`request body over ${REQUEST_BYTES_MAX} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startSettlementSimulator(options: SimulatorOptions): Promise<SettlementSimulator> {
  const {
    callback_url,
    callback_delay_ms = 0,
    duplicate_callback_rate = 0,
    late_callback_rate = 0,
    late_callback_delay_ms = 60_000,
    request_timeout_rate = 0,
    request_hold_ms = 15_000,
    debit_return_delay_ms = 1_000,
  } = options;
  const rates = { ...options, duplicate_callback_rate, late_callback_rate, request_timeout_rate };
  for (const name of [
    'transient_failure_rate',
    'reply_lost_rate',
    'duplicate_callback_rate',
    'late_callback_rate',
    'request_timeout_rate',
  ] as const) {
    if (!(rates[name] >= 0 && rates[name] < 1)) throw new Error(`${name} must be in [0, 1), got ${rates[name]}`);
  }
  for (const [name, ms] of Object.entries({ callback_delay_ms, late_callback_delay_ms, request_hold_ms, debit_return_delay_ms })) {
    if (!(Number.isSafeInteger(ms) && ms >= 0)) throw new Error(`${name} must be a non-negative integer, got ${ms}`);
  }
  if (callback_url && !options.callback_secret) throw new Error('callback_secret is required with a callback_url: callbacks are signed');
  const random = options.random ?? Math.random;
  type Answer = { status: number; body: PayoutResult };
  const answers = new Map<string, Answer>();
  /** Requests being processed, by key: a retry joins its first request instead of paying again. */
  const processing = new Map<string, Promise<Answer | null>>();
  const settled: SettlementSimulator['settled'] = new Map();
  const debits: SettlementSimulator['debits'] = new Map();
  const requests: SettlementSimulator['requests'] = new Map();
  const callbacks: CallbackDelivery[] = [];
  const scripts = new Map<string, ScriptedAnswer[]>();
  const scripted: SettlementSimulator['scripted'] = new Map();
  const counters = { held: 0, transient_failures: 0, replies_lost: 0 };

  // Timers and callback requests still pending; close() cancels them.
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const stopping = new AbortController();
  const later = (ms: number, fn: () => void) => {
    if (closed) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  const sleep = (ms: number) => new Promise<void>((resolve) => later(ms, resolve));

  // One message id per callback, the same on each of its delivery attempts (Standard Webhooks);
  // every attempt is signed with its own timestamp.
  const deliver = (kind: CallbackKind, body: SettlementCallback | DirectDebitCallback, attempt = 1, id = `msg_${randomUUID()}`): void => {
    if (closed || !callback_url || !options.callback_secret) return;
    const json = JSON.stringify(body);
    const done = (http_status: number | null, error?: string) =>
      callbacks.push({ idempotency_key: body.idempotency_key, kind, body, http_status, attempts: attempt, ...(error ? { error } : {}) });
    const retry = (why: string) => {
      if (attempt >= CALLBACK_ATTEMPTS_MAX) return done(null, why);
      later(CALLBACK_RETRY_MS_MIN * 2 ** (attempt - 1), () => deliver(kind, body, attempt + 1, id));
    };
    const signature = webhookHeaders(options.callback_secret, { id, timestamp_s: Math.floor(Date.now() / 1000), body: json });
    void fetch(callback_url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signature },
      body: json,
      signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(CALLBACK_TIMEOUT_MS)]),
    }).then(
      async (response) => {
        const text = await response.text().catch(() => '');
        if (response.status >= 500) return retry(`receiver answered ${response.status}: ${text.slice(0, 200)}`);
        done(response.status);
      },
      (err: Error) => {
        if (!closed) retry(err.message);
      },
    );
  };

  /** Makes a new payout (once per key) and answers it; null: a transient failure, nothing happened. */
  const makePayout = async (instruction: BankInstruction): Promise<Answer | null> => {
    if (request_timeout_rate > 0 && random() < request_timeout_rate) {
      counters.held += 1;
      await sleep(request_hold_ms);
    }
    if (options.latency_ms > 0) await sleep(options.latency_ms);
    if (random() < options.transient_failure_rate) {
      counters.transient_failures += 1;
      return null;
    }

    const debit = instruction.kind === 'debit';
    const outcome: Answer = instruction.bank_account.startsWith(REJECTED_ACCOUNT_PREFIX)
      ? { status: 422, body: { status: 'rejected', reason: debit ? 'insufficient_funds' : 'payee_account_closed' } }
      : { status: 200, body: { status: 'settled', bank_reference: `BANK-${randomUUID()}` } };
    const answer: Answer = callback_url ? { status: 202, body: { status: 'accepted' } } : outcome;
    if (answers.size >= IDEMPOTENCY_KEYS_MAX) answers.delete(answers.keys().next().value!);
    answers.set(instruction.idempotency_key, answer);
    if (outcome.body.status === 'settled' && debit) {
      const collected = {
        amount_minor: instruction.amount_minor,
        currency: instruction.currency,
        bank_reference: outcome.body.bank_reference,
      };
      debits.set(instruction.idempotency_key, { ...collected, returned: false });
      if (instruction.bank_account.startsWith(RETURNED_DEBIT_ACCOUNT_PREFIX)) {
        const key = instruction.idempotency_key;
        later(callback_delay_ms + debit_return_delay_ms, () => {
          debits.get(key)!.returned = true;
          deliver('first', { idempotency_key: key, status: 'returned', reason: 'debtor_disputed' });
        });
      }
    } else if (outcome.body.status === 'settled') {
      settled.set(instruction.idempotency_key, {
        amount_minor: instruction.amount_minor,
        currency: instruction.currency,
        bank_reference: outcome.body.bank_reference,
      });
    }
    if (callback_url) {
      const key = instruction.idempotency_key;
      const reference = outcome.body.status === 'settled' ? outcome.body.bank_reference : '';
      const reason = outcome.body.status === 'rejected' ? outcome.body.reason : 'unknown';
      const body: SettlementCallback | DirectDebitCallback = debit
        ? reference
          ? { idempotency_key: key, status: 'collected', bank_reference: reference }
          : { idempotency_key: key, status: 'failed', reason }
        : reference
          ? { idempotency_key: key, status: 'settled', bank_reference: reference }
          : { idempotency_key: key, status: 'rejected', reason };
      const duplicate = duplicate_callback_rate > 0 && random() < duplicate_callback_rate;
      const late = late_callback_rate > 0 && random() < late_callback_rate;
      later(callback_delay_ms, () => {
        deliver('first', body);
        if (duplicate) deliver('duplicate', body);
      });
      if (late) later(Math.max(late_callback_delay_ms, callback_delay_ms), () => deliver('late', body));
    }
    return answer;
  };

  const network = createNetworkSimulator();
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/healthz') return reply(200, { ok: true });
    if (network.handle(req, res)) return;
    if (req.method !== 'POST' || (req.url !== '/v1/payouts' && req.url !== '/v1/direct-debits')) return reply(404, { error: 'not found' });
    const kind = req.url === '/v1/payouts' ? 'payout' : 'debit';
    void (async () => {
      let raw: string;
      try {
        raw = await readBody(req);
      } catch (err) {
        return reply(413, { error: (err as Error).message });
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        return reply(400, { error: 'body is not JSON' });
      }
      const parsed = kind === 'payout' ? payoutInstructionSchema.safeParse(json) : directDebitInstructionSchema.safeParse(json);
      if (!parsed.success) {
        return reply(400, { error: describeIssue(parsed.error) });
      }
      const instruction: BankInstruction = {
        kind,
        idempotency_key: parsed.data.idempotency_key,
        amount_minor: parsed.data.amount_minor,
        currency: parsed.data.currency,
        bank_account: 'payee' in parsed.data ? parsed.data.payee.bank_account : parsed.data.debtor.bank_account,
      };
      if (requests.size < IDEMPOTENCY_KEYS_MAX || requests.has(instruction.idempotency_key)) {
        requests.set(instruction.idempotency_key, (requests.get(instruction.idempotency_key) ?? 0) + 1);
      }
      const next = scripts.get(instruction.idempotency_key)?.shift();
      if (next) {
        scripted.set(instruction.idempotency_key, (scripted.get(instruction.idempotency_key) ?? 0) + 1);
        res.writeHead(next.status, { 'content-type': 'application/json' });
        return res.end(typeof next.body === 'string' ? next.body : JSON.stringify(next.body ?? { error: `scripted ${next.status}` }));
      }
      const previous = answers.get(instruction.idempotency_key);
      if (previous) return reply(previous.status, previous.body);
      const inflight = processing.get(instruction.idempotency_key);
      if (inflight) {
        // A retry while the first request is still held: the same payout, the same answer.
        const joined = await inflight;
        return joined ? reply(joined.status, joined.body) : reply(503, { error: 'bank temporarily unavailable' });
      }
      const work = makePayout(instruction);
      processing.set(instruction.idempotency_key, work);
      let answer: Answer | null;
      try {
        answer = await work;
      } finally {
        processing.delete(instruction.idempotency_key);
      }
      if (!answer) return reply(503, { error: 'bank temporarily unavailable' });
      if (random() < options.reply_lost_rate) {
        // The bank acted; the caller never hears it. Its retry with the same key gets this answer.
        counters.replies_lost += 1;
        req.socket.destroy();
        return;
      }
      reply(answer.status, answer.body);
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}`,
    server,
    settled,
    debits,
    requests,
    network,
    get held() {
      return counters.held;
    },
    get transient_failures() {
      return counters.transient_failures;
    },
    get replies_lost() {
      return counters.replies_lost;
    },
    callbacks,
    scripted,
    script(idempotency_key, list) {
      const queue = scripts.get(idempotency_key) ?? [];
      if (queue.length + list.length > SCRIPTED_ANSWERS_MAX) throw new Error(`at most ${SCRIPTED_ANSWERS_MAX} scripted answers per key`);
      for (const a of list) {
        if (!(Number.isInteger(a.status) && a.status >= 200 && a.status <= 599))
          throw new Error(`scripted status must be 200..599, got ${a.status}`);
      }
      scripts.set(idempotency_key, [...queue, ...list]);
    },
    close: () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      stopping.abort();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return stopped;
    },
  };
}
