// Connect clients of the platform's API (the generated service descriptors over HTTP/1.1 or
// HTTP/2), sending a bearer API key on every call. Used by the CLI and the demo.
import type { Interceptor } from '@connectrpc/connect';
import { createClient, type Client } from '@connectrpc/connect';
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

export function createApiClients(options: ApiClientOptions): ApiClients {
  const bearer: Interceptor = (next) => (req) => {
    if (options.key !== null) req.header.set('authorization', `Bearer ${options.key}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: options.url,
    httpVersion: options.http_version ?? '1.1',
    interceptors: [bearer],
    defaultTimeoutMs: options.timeout_ms,
  });
  return {
    payments: createClient(PaymentService, transport),
    ledger: createClient(LedgerService, transport),
    cards: createClient(CardService, transport),
  };
}
