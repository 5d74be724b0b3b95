// API keys: `cpk_<key id>_<secret>`. The secret is 32 random bytes; only its SHA-256 is stored, so
// the database cannot give a key away. A key is scoped to one or more companies.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { paymentIdSchema } from '../domain/payment.js';
import { describeIssue } from '../domain/validation.js';
import type { Pool } from '../ledger/db.js';

export const KEY_COMPANIES_MAX = 100;
const KEY_PATTERN = /^cpk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
/** Longest Authorization header value looked at; anything longer is refused unread. */
export const API_KEY_LENGTH_MAX = 64;

export const keyCreateSchema = z.strictObject({
  name: z.string().trim().min(1, { error: 'must not be empty' }).max(140),
  company_ids: z.array(paymentIdSchema).min(1, { error: 'must name at least one company' }).max(KEY_COMPANIES_MAX),
});

export interface ApiKeyScope {
  key_id: string;
  name: string;
  company_ids: ReadonlySet<string>;
}

export interface ApiKeyStore {
  /** Creates a key; the returned secret is shown once and never stored. */
  create(input: z.input<typeof keyCreateSchema>): Promise<{ key_id: string; api_key: string }>;
  /** Revokes a key: false when there is no such (unrevoked) key. */
  revoke(key_id: string): Promise<boolean>;
  /** Revokes every unrevoked key of this name; returns how many. */
  revokeNamed(name: string): Promise<number>;
  /** The scope of a presented key, or null for a malformed, unknown or revoked one. */
  verify(api_key: string): Promise<ApiKeyScope | null>;
  list(): Promise<Array<{ key_id: string; name: string; company_ids: string[]; created_at: Date; revoked_at: Date | null }>>;
}

export class ApiKeyInputError extends Error {
  override name = 'ApiKeyInputError';
}

const sha256 = (secret: string) => createHash('sha256').update(secret, 'utf8').digest();

export interface ApiKeyStoreOptions {
  /** How long a verified key is trusted without reading the database again (API_KEY_CACHE_TTL_MS);
   * 0 reads it on every call. Revoking through this store takes effect at once; a revocation by
   * another process (the CLI) within this long. */
  cache_ttl_ms: number;
}

/** Keys remembered at once; the oldest is forgotten first. A process serves few keys: the bound
 * only stops a caller cycling through many valid keys from growing the map. */
const KEY_CACHE_ENTRIES_MAX = 1_000;

interface CachedKey {
  secret_hash: Buffer;
  scope: ApiKeyScope;
  verified_at_ms: number;
}

export function createApiKeyStore(pool: Pool, options: ApiKeyStoreOptions = { cache_ttl_ms: 0 }): ApiKeyStore {
  if (!(Number.isSafeInteger(options.cache_ttl_ms) && options.cache_ttl_ms >= 0 && options.cache_ttl_ms <= 60_000)) {
    throw new Error(`cache_ttl_ms must be 0..60000, got ${options.cache_ttl_ms}`);
  }
  // Every API call verifies its key before anything else; without the cache that is one database
  // round trip per call, retries included, taken before admission control can shed the call.
  const cache = new Map<string, CachedKey>();
  const remember = (key_id: string, entry: CachedKey) => {
    cache.delete(key_id);
    if (cache.size >= KEY_CACHE_ENTRIES_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key_id, entry);
  };
  return {
    async create(input) {
      const parsed = keyCreateSchema.safeParse(input);
      if (!parsed.success) throw new ApiKeyInputError(describeIssue(parsed.error, 'key.'));
      const key_id = Array.from(randomBytes(12), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
      const secret = randomBytes(32).toString('base64url');
      await pool.query('INSERT INTO api.keys (key_id, secret_hash, name, company_ids) VALUES ($1, $2, $3, $4)', [
        key_id,
        sha256(secret),
        parsed.data.name,
        [...new Set(parsed.data.company_ids)],
      ]);
      return { key_id, api_key: `cpk_${key_id}_${secret}` };
    },
    async revoke(key_id) {
      cache.delete(key_id);
      const { rowCount } = await pool.query('UPDATE api.keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL', [key_id]);
      return rowCount === 1;
    },
    async revokeNamed(name) {
      const { rows } = await pool.query<{ key_id: string }>(
        'UPDATE api.keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING key_id',
        [name],
      );
      for (const row of rows) cache.delete(row.key_id);
      return rows.length;
    },
    async verify(api_key) {
      if (api_key.length > API_KEY_LENGTH_MAX) return null;
      const match = KEY_PATTERN.exec(api_key);
      if (!match) return null;
      const [, key_id, secret] = match;
      const presented_hash = sha256(secret!);
      const now_ms = Date.now();
      const cached = cache.get(key_id!);
      if (cached && now_ms - cached.verified_at_ms < options.cache_ttl_ms) {
        // The secret is checked on every call: the cache only saves the read, never the comparison.
        return timingSafeEqual(cached.secret_hash, presented_hash) ? cached.scope : null;
      }
      const { rows } = await pool.query<{ secret_hash: Buffer; name: string; company_ids: string[] }>(
        'SELECT secret_hash, name, company_ids FROM api.keys WHERE key_id = $1 AND revoked_at IS NULL',
        [key_id],
      );
      const row = rows[0];
      if (!row) {
        cache.delete(key_id!);
        return null;
      }
      const scope: ApiKeyScope = { key_id: key_id!, name: row.name, company_ids: new Set(row.company_ids) };
      if (options.cache_ttl_ms > 0) remember(key_id!, { secret_hash: row.secret_hash, scope, verified_at_ms: now_ms });
      return timingSafeEqual(row.secret_hash, presented_hash) ? scope : null;
    },
    async list() {
      const { rows } = await pool.query('SELECT key_id, name, company_ids, created_at, revoked_at FROM api.keys ORDER BY created_at');
      return rows;
    },
  };
}
