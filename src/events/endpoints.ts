// Webhook endpoints (events.webhook_endpoints): a company's URL, the event types it wants, and its
// signing secret, sealed at rest (src/events/secret-box.ts). The secret is returned once, when the
// endpoint is created; reads never return it and nothing logs it.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { KeyRing } from '../codec/keys.js';
import { eventTypeSchema } from '../domain/events.js';
import { paymentIdSchema } from '../domain/payment.js';
import { describeIssue } from '../domain/validation.js';
import type { Pool } from '../ledger/db.js';
import { generateWebhookSecret } from '../settlement/webhook-signature.js';
import { parseWebhookUrl, WebhookUrlError } from './endpoint-url.js';
import { openSecret, sealSecret } from './secret-box.js';

/** Live (not deleted) endpoints one company may have. */
export const ENDPOINTS_PER_COMPANY_MAX = 16;
/** Event types one endpoint may subscribe to (`*` is all). */
export const ENDPOINT_EVENT_TYPES_MAX = 32;
export const ENDPOINT_ID_PATTERN = /^we_[0-9a-f]{32}$/;

export const endpointIdSchema = z.string().regex(ENDPOINT_ID_PATTERN, { error: 'must be an endpoint id (we_ and 32 hex digits)' });

export const newEndpointSchema = z.strictObject({
  company_id: paymentIdSchema,
  url: z.string().transform((text, ctx) => {
    try {
      return parseWebhookUrl(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof WebhookUrlError ? err.message.replace(/^url: /, '') : String(err) });
      return z.NEVER;
    }
  }),
  event_types: z
    .array(z.union([z.literal('*'), eventTypeSchema]))
    .min(1, { error: 'name at least one event type (or *)' })
    .max(ENDPOINT_EVENT_TYPES_MAX, { error: `at most ${ENDPOINT_EVENT_TYPES_MAX}` })
    .transform((types) => [...new Set(types)]),
});
export type NewEndpoint = z.input<typeof newEndpointSchema>;

export type EndpointStatus = 'enabled' | 'disabled' | 'deleted';

export interface WebhookEndpoint {
  endpoint_id: string;
  company_id: string;
  url: string;
  event_types: string[];
  status: EndpointStatus;
  status_reason: string | null;
  /** Events committed by later transactions are the endpoint's. */
  created_tx: string;
  created_at: Date;
}

export class InvalidEndpointError extends Error {
  override name = 'InvalidEndpointError';
}
export class EndpointLimitError extends Error {
  override name = 'EndpointLimitError';
}

interface EndpointRow extends Omit<WebhookEndpoint, 'created_tx'> {
  created_tx_text: string;
  secret_sealed: string;
}

const COLUMNS =
  'endpoint_id, company_id, url, event_types, status, status_reason, created_tx::text AS created_tx_text, created_at, secret_sealed';
const toEndpoint = ({ secret_sealed: _sealed, created_tx_text, ...r }: EndpointRow): WebhookEndpoint => ({
  ...r,
  created_tx: created_tx_text,
});

export type EndpointStore = ReturnType<typeof createEndpointStore>;

export function createEndpointStore(pool: Pool, ring: KeyRing) {
  return {
    /** A new endpoint and its secret (`whsec_<base64>`): the only time the secret is returned. */
    async create(input: NewEndpoint): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
      const parsed = newEndpointSchema.safeParse(input);
      if (!parsed.success) throw new InvalidEndpointError(describeIssue(parsed.error));
      const endpoint_id = `we_${randomBytes(16).toString('hex')}`;
      const secret = generateWebhookSecret();
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // One company's creations in turn, so the limit holds under concurrent calls.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`webhook_endpoints:${parsed.data.company_id}`]);
        const { rows: count } = await client.query<{ n: string }>(
          "SELECT count(*) AS n FROM events.webhook_endpoints WHERE company_id = $1 AND status <> 'deleted'",
          [parsed.data.company_id],
        );
        if (Number(count[0]!.n) >= ENDPOINTS_PER_COMPANY_MAX) {
          throw new EndpointLimitError(
            `company ${parsed.data.company_id} has ${ENDPOINTS_PER_COMPANY_MAX} endpoints already: delete one first`,
          );
        }
        const { rows } = await client.query<EndpointRow>(
          `INSERT INTO events.webhook_endpoints (endpoint_id, company_id, url, event_types, secret_sealed)
           VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
          [endpoint_id, parsed.data.company_id, parsed.data.url, parsed.data.event_types, sealSecret(ring, endpoint_id, secret)],
        );
        await client.query('COMMIT');
        return { endpoint: toEndpoint(rows[0]!), secret };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },

    async get(endpoint_id: string): Promise<WebhookEndpoint | null> {
      const { rows } = await pool.query<EndpointRow>(`SELECT ${COLUMNS} FROM events.webhook_endpoints WHERE endpoint_id = $1`, [
        endpoint_id,
      ]);
      return rows[0] ? toEndpoint(rows[0]) : null;
    },

    /** The endpoint and its secret, for signing (the delivery activity only). */
    async signingSecret(endpoint_id: string): Promise<{ endpoint: WebhookEndpoint; secret: string } | null> {
      const { rows } = await pool.query<EndpointRow>(`SELECT ${COLUMNS} FROM events.webhook_endpoints WHERE endpoint_id = $1`, [
        endpoint_id,
      ]);
      const row = rows[0];
      return row ? { endpoint: toEndpoint(row), secret: openSecret(ring, endpoint_id, row.secret_sealed) } : null;
    },

    async list(company_ids: readonly string[]): Promise<WebhookEndpoint[]> {
      const { rows } = await pool.query<EndpointRow>(
        `SELECT ${COLUMNS} FROM events.webhook_endpoints WHERE company_id = ANY($1::text[]) AND status <> 'deleted' ORDER BY created_at, endpoint_id`,
        [company_ids],
      );
      return rows.map(toEndpoint);
    },

    /** Moves an endpoint to `status` (deleted is final); false when it was not there or deleted. */
    async setStatus(endpoint_id: string, status: Exclude<EndpointStatus, 'enabled'> | 'enabled', reason: string | null): Promise<boolean> {
      const { rowCount } = await pool.query(
        `UPDATE events.webhook_endpoints SET status = $2, status_reason = $3, updated_at = now()
         WHERE endpoint_id = $1 AND status <> 'deleted'`,
        [endpoint_id, status, reason === null ? null : reason.slice(0, 500)],
      );
      return (rowCount ?? 0) > 0;
    },
  };
}
