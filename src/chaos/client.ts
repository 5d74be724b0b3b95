// The chaos run's gRPC client of the API (Connect for Node over HTTP/2, the gRPC protocol), and the
// retry rule every driver call follows: UNAVAILABLE and DEADLINE_EXCEEDED (and a connection cut
// mid-call, which a client sees as CANCELED, UNKNOWN, INTERNAL or ABORTED) are tried again with the same
// ids until the give-up deadline; any other answer is final.
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { CardService } from '../gen/cardplatform/cards/v1/cards_pb.js';
import { LedgerService } from '../gen/cardplatform/ledger/v1/ledger_pb.js';
import { PaymentService } from '../gen/cardplatform/payments/v1/payments_pb.js';

export interface ChaosClients {
  payments: Client<typeof PaymentService>;
  ledger: Client<typeof LedgerService>;
  cards: Client<typeof CardService>;
}

export function createChaosClients(baseUrl: string, key: () => string | null, timeout_ms = 10_000): ChaosClients {
  const bearer: Interceptor = (next) => (req) => {
    const k = key();
    if (k !== null) req.header.set('authorization', `Bearer ${k}`);
    return next(req);
  };
  const transport = createGrpcTransport({ baseUrl, interceptors: [bearer], defaultTimeoutMs: timeout_ms });
  return {
    payments: createClient(PaymentService, transport),
    ledger: createClient(LedgerService, transport),
    cards: createClient(CardService, transport),
  };
}

/** Answers after which the same call is sent again (same ids). */
export const RETRIED_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Unknown,
  Code.Internal,
  Code.Aborted,
  // The API's admission control: "the platform is at its limit, nothing was done: retry with the
  // same ids" (src/api/rpc/admission-interceptor.ts).
  Code.ResourceExhausted,
  // This client never cancels a call: CANCELED is the HTTP/2 stream reset of an API process that died.
  Code.Canceled,
]);

export function codeName(code: Code): string {
  return Code[code] ?? String(code);
}

export class RetryStats {
  calls = 0;
  retries = 0;
  byCode: Record<string, number> = {};
  count(code: Code): void {
    const name = codeName(code);
    this.byCode[name] = (this.byCode[name] ?? 0) + 1;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` until it answers, retrying RETRIED_CODES with backoff until `give_up_at_ms`. */
export async function withRetries<T>(
  stats: RetryStats,
  give_up_at_ms: number,
  fn: () => Promise<T>,
): Promise<{ value: T; attempts: number }> {
  stats.calls += 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(), attempts: attempt };
    } catch (err) {
      const ce = ConnectError.from(err);
      stats.count(ce.code);
      if (!RETRIED_CODES.has(ce.code) || Date.now() > give_up_at_ms) throw ce;
      stats.retries += 1;
      // Exponential backoff with full jitter, up to 10 s: hundreds of payments in flight retrying
      // faster than that keep an API that just came back overloaded (a retry storm).
      await sleep(Math.random() * Math.min(200 * 2 ** Math.min(attempt, 6), 10_000));
    }
  }
}
