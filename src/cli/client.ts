// Connect clients of the platform's API (the generated service descriptors over HTTP/1.1 or
// HTTP/2), sending a bearer API key on every call, and retrying, after the API's hint and within the
// call's deadline, a call the API refused for load. Used by the CLI and the demo.
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { CardService } from '../gen/cardplatform/cards/v1/cards_pb.js';
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
}

/** Attempts of a call the API refused at its door (RESOURCE_EXHAUSTED: nothing was done), the
 * first included; each waits the API's hint (`grpc-retry-pushback-ms`), never past the call's
 * deadline. */
export const REFUSED_CALL_ATTEMPTS_MAX = 20;
const REFUSED_CALL_WAIT_MS_DEFAULT = 250;

/** Retries a call the API refused for load, after the hint it gave, within the call's deadline. */
const retryRefused: Interceptor = (next) => async (req) => {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await next(req);
    } catch (err) {
      if (!(err instanceof ConnectError) || err.code !== Code.ResourceExhausted || attempt >= REFUSED_CALL_ATTEMPTS_MAX) throw err;
      const hint = Number(err.metadata.get('grpc-retry-pushback-ms') ?? '');
      const wait_ms = Number.isFinite(hint) && hint > 0 ? hint : REFUSED_CALL_WAIT_MS_DEFAULT;
      const waited = await new Promise<boolean>((resolve) => {
        if (req.signal.aborted) return resolve(false);
        const timer = setTimeout(() => resolve(true), wait_ms);
        req.signal.addEventListener('abort', () => (clearTimeout(timer), resolve(false)), { once: true });
      });
      if (!waited) throw err;
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
  };
}
