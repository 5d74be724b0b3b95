// A payee-bank simulator: the stack and the tests send real HTTP payouts to it. Behaviour is
// deterministic per request so tests can choose outcomes:
//   - a payee bank account starting with REJECT is closed: the payout is rejected for good (422);
//   - otherwise the payout settles (200) with a bank reference;
//   - the same idempotency key always gets the first answer back, and money moves once.
// Faults can be injected at configured rates to exercise retries: transient failures (503, nothing
// happened) and lost replies (the payout is made, then the connection drops before the answer).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { describeIssue } from '../domain/validation.js';
import { payoutInstructionSchema, type PayoutResult } from './gateway.js';

export const REJECTED_ACCOUNT_PREFIX = 'REJECT';
/** Largest request body accepted, in bytes. */
const REQUEST_BYTES_MAX = 16 * 1024;
/** Idempotency keys remembered; the oldest are forgotten first. */
const IDEMPOTENCY_KEYS_MAX = 100_000;

export interface SimulatorOptions {
  host: string;
  port: number;
  /** Probability in [0, 1) that a new request fails with 503 before being processed. */
  transient_failure_rate: number;
  /** Probability in [0, 1) that a new payout is made but its reply is lost (connection dropped). */
  reply_lost_rate: number;
  latency_ms: number;
  random?: () => number;
}

export interface SettlementSimulator {
  url: string;
  server: Server;
  /** Payouts that moved money, by idempotency key (for tests and reconciliation). */
  settled: Map<string, { amount_minor: number; currency: string; bank_reference: string }>;
  /** Requests received per idempotency key, retries included. */
  requests: Map<string, number>;
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
  for (const name of ['transient_failure_rate', 'reply_lost_rate'] as const) {
    if (!(options[name] >= 0 && options[name] < 1)) throw new Error(`${name} must be in [0, 1), got ${options[name]}`);
  }
  const random = options.random ?? Math.random;
  const answers = new Map<string, { status: number; body: PayoutResult }>();
  const settled: SettlementSimulator['settled'] = new Map();
  const requests: SettlementSimulator['requests'] = new Map();

  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/healthz') return reply(200, { ok: true });
    if (req.method !== 'POST' || req.url !== '/v1/payouts') return reply(404, { error: 'not found' });
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
      const parsed = payoutInstructionSchema.safeParse(json);
      if (!parsed.success) {
        return reply(400, { error: describeIssue(parsed.error) });
      }
      const instruction = parsed.data;
      if (requests.size < IDEMPOTENCY_KEYS_MAX || requests.has(instruction.idempotency_key)) {
        requests.set(instruction.idempotency_key, (requests.get(instruction.idempotency_key) ?? 0) + 1);
      }
      const previous = answers.get(instruction.idempotency_key);
      if (previous) return reply(previous.status, previous.body);
      if (options.latency_ms > 0) await new Promise((r) => setTimeout(r, options.latency_ms));
      if (random() < options.transient_failure_rate) return reply(503, { error: 'bank temporarily unavailable' });

      const answer: { status: number; body: PayoutResult } = instruction.payee.bank_account.startsWith(REJECTED_ACCOUNT_PREFIX)
        ? { status: 422, body: { status: 'rejected', reason: 'payee_account_closed' } }
        : { status: 200, body: { status: 'settled', bank_reference: `BANK-${randomUUID()}` } };
      if (answers.size >= IDEMPOTENCY_KEYS_MAX) answers.delete(answers.keys().next().value!);
      answers.set(instruction.idempotency_key, answer);
      if (answer.body.status === 'settled') {
        settled.set(instruction.idempotency_key, {
          amount_minor: instruction.amount_minor,
          currency: instruction.currency,
          bank_reference: answer.body.bank_reference,
        });
      }
      if (random() < options.reply_lost_rate) {
        // The bank acted; the caller never hears it. Its retry with the same key gets this answer.
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
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
