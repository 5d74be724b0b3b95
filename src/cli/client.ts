// Connect clients of the platform's API (the generated service descriptors over HTTP/1.1 or
// HTTP/2), sending a bearer API key on every call, and retrying within the call's deadline a call
// the API refused for load (after its hint) or answered UNAVAILABLE (a few times). Used by the CLI
// and the demo.
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { BillingService } from '../gen/cardplatform/billing/v1/billing_pb.js';
import { CardService } from '../gen/cardplatform/cards/v1/cards_pb.js';
import { DisputeService } from '../gen/cardplatform/disputes/v1/disputes_pb.js';
import { LedgerService } from '../gen/cardplatform/ledger/v1/ledger_pb.js';
import { PaymentService } from '../gen/cardplatform/payments/v1/payments_pb.js';

export interface ApiClientOptions {
  /** Base URL of the API, e.g. http://127.0.0.1:7470. */
  url: string;
  /** The API key (`cpk_...`); null sends none (the server answers UNAUTHENTICATED). */
  key: string | null;
  /** Default deadline of each call, unless the call sets its own. */
  timeout_ms: number;
  /** HTTP/2 keeps one connection for many concurrent calls (the demo); HTTP/1.1 is plainer. */
  http_version?: '1.1' | '2';
}

export interface ApiClients {
  payments: Client<typeof PaymentService>;
  ledger: Client<typeof LedgerService>;
  cards: Client<typeof CardService>;
  billing: Client<typeof BillingService>;
  disputes: Client<typeof DisputeService>;
}

/** Attempts of a call the API refused at its door (RESOURCE_EXHAUSTED: nothing was done), the
 * first included; each waits the API's hint (`grpc-retry-pushback-ms`), never past the call's
 * deadline. */
export const REFUSED_CALL_ATTEMPTS_MAX = 20;
const REFUSED_CALL_WAIT_MS_DEFAULT = 250;
/** Attempts of a call the API answered UNAVAILABLE ("retry with the same ids": a dependency was
 * away for a moment, e.g. a Temporal history shard moving to another process, or a ledger step
 * that the next delivery books). Few, so that an API that is really down still answers the CLI's
 * exit status 4 within about a second; every call is idempotent by its ids, so a retry is safe. */
export const UNAVAILABLE_CALL_ATTEMPTS_MAX = 3;
const UNAVAILABLE_CALL_WAIT_MS_BASE = 200;

/** How long to wait before attempt `attempt + 1` of a call that failed with `err`, or null when
 * the failure is final (not a retryable code, or its attempts are spent). */
export function retryWaitMs(err: unknown, attempt: number, random: () => number = Math.random): number | null {
  if (!(err instanceof ConnectError)) return null;
  if (err.code === Code.ResourceExhausted && attempt < REFUSED_CALL_ATTEMPTS_MAX) {
    const hint = Number(err.metadata.get('grpc-retry-pushback-ms') ?? '');
    return Number.isFinite(hint) && hint > 0 ? hint : REFUSED_CALL_WAIT_MS_DEFAULT;
  }
  if (err.code === Code.Unavailable && attempt < UNAVAILABLE_CALL_ATTEMPTS_MAX) {
    // Exponential with full jitter, so that callers refused together do not come back together.
    return Math.round(UNAVAILABLE_CALL_WAIT_MS_BASE * 2 ** (attempt - 1) * (0.5 + random() / 2));
  }
  return null;
}

/** Resolves true after `wait_ms`, or false at once if the call's signal aborts first (its deadline
 * passed, or its caller gave up); leaves no listener behind either way. */
function waitUnlessAborted(signal: AbortSignal, wait_ms: number): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, wait_ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retries a call the API refused for load (after its hint) or answered UNAVAILABLE (a few times,
 * with backoff), within the call's deadline. */
const retryRefused: Interceptor = (next) => async (req) => {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await next(req);
    } catch (err) {
      const wait_ms = retryWaitMs(err, attempt);
      if (wait_ms === null || !(await waitUnlessAborted(req.signal, wait_ms))) throw err;
    }
  }
};

export function createApiClients(options: ApiClientOptions): ApiClients {
  const bearer: Interceptor = (next) => (req) => {
    if (options.key !== null) req.header.set('authorization', `Bearer ${options.key}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: options.url,
    httpVersion: options.http_version ?? '1.1',
    interceptors: [bearer, retryRefused],
    defaultTimeoutMs: options.timeout_ms,
  });
  return {
    payments: createClient(PaymentService, transport),
    ledger: createClient(LedgerService, transport),
    cards: createClient(CardService, transport),
    billing: createClient(BillingService, transport),
    disputes: createClient(DisputeService, transport),
  };
}
