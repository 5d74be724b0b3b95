// A small webhook receiver: what a company runs to receive the platform's events, and what
// `npm run cli -- events listen` starts on 127.0.0.1. It verifies each delivery's Standard
// Webhooks signature with the endpoint's secret (src/settlement/webhook-signature.ts), refuses
// anything unsigned or badly signed with 401, and hands each verified event to `on_event` once per
// webhook-id (deliveries are at least once: a repeat is acknowledged and not handed on again).
//   POST <any path>  200 {"result":"received"|"duplicate"}, 400 not JSON, 401 bad signature,
//                    413 too large, 500 when `on_event` throws (the platform retries)
import { createServer, type Server } from 'node:http';
import { BodyTooLargeError, readBody } from '../settlement/callback-receiver.js';
import { parseWebhookSecret, verifyWebhook } from '../settlement/webhook-signature.js';
import { EVENT_DATA_BYTES_MAX } from './store.js';

/** Webhook ids remembered to drop repeats, at most (the oldest are forgotten first). */
export const RECEIVER_SEEN_IDS_MAX = 10_000;

export interface ReceivedEvent {
  webhook_id: string;
  body: { id: string; type: string; timestamp: string; company_id: string; data: { object_type: string; object: Record<string, unknown> } };
}

export interface WebhookReceiverOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The endpoint's secret, whsec_<base64>; or later, with setSecret (the endpoint is created
   * with the receiver's URL, and its secret comes back from that). Until then: 503. */
  secret?: string;
  on_event(event: ReceivedEvent): void | Promise<void>;
  /** Called for each refused request (tests and the CLI show them). */
  on_refused?(status: number, reason: string): void;
}

export interface WebhookReceiver {
  url: string;
  setSecret(secret: string): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  let key = options.secret === undefined ? null : parseWebhookSecret(options.secret, 'webhook receiver secret');
  const seen = new Set<string>();
  const answer = (res: import('node:http').ServerResponse, status: number, body: object) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const refuse = (status: number, reason: string) => {
        options.on_refused?.(status, reason);
        answer(res, status, { error: reason });
      };
      if (req.method !== 'POST') return refuse(405, 'POST only');
      if (!key) return refuse(503, 'no secret yet');
      let text: string;
      try {
        text = await readBody(req, EVENT_DATA_BYTES_MAX * 2);
      } catch (err) {
        return refuse(err instanceof BodyTooLargeError ? 413 : 400, 'body could not be read');
      }
      const verdict = verifyWebhook([key], req.headers, text, Date.now());
      if (!verdict.ok) return refuse(401, `signature: ${verdict.reason}`);
      let body: ReceivedEvent['body'];
      try {
        body = JSON.parse(text) as ReceivedEvent['body'];
      } catch {
        return refuse(400, 'body is not JSON');
      }
      if (seen.has(verdict.id)) return answer(res, 200, { result: 'duplicate' });
      try {
        await options.on_event({ webhook_id: verdict.id, body });
      } catch (err) {
        return refuse(500, `handler failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      seen.add(verdict.id);
      if (seen.size > RECEIVER_SEEN_IDS_MAX) seen.delete(seen.values().next().value!);
      answer(res, 200, { result: 'received' });
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}/webhooks`,
    setSecret(secret) {
      key = parseWebhookSecret(secret, 'webhook receiver secret');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
