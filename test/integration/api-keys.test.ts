// API key verification (src/api/keys.ts) against a real database: a verified key is trusted for
// cache_ttl_ms without another read, the secret is still compared on every call, a revocation
// through the store takes effect at once and one made by another process within the TTL.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiKeyStore } from '../../src/api/keys.js';
import type { Pool } from '../../src/ledger/db.js';
import { freshDatabase } from '../support/env.js';

let pool: Pool;
const COMPANY = '7f1d6c1e-1b7a-4c55-9a53-0c1f6a1d2e01';

before(async () => {
  ({ pool } = await freshDatabase('api_keys'));
});
after(async () => {
  await pool.end();
});

/** The store's reads of api.keys, counted at the pool. */
function countingPool(): { pool: Pool; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return (text: unknown, ...rest: unknown[]) => {
        if (typeof text === 'string' && text.startsWith('SELECT secret_hash')) reads += 1;
        return (target.query as (...a: unknown[]) => unknown).call(target, text, ...rest);
      };
    },
  });
  return { pool: counted, reads: () => reads };
}

test('a verified key is read once per TTL; a wrong secret is refused even while its key is cached', async () => {
  const counted = countingPool();
  const keys = createApiKeyStore(counted.pool, { cache_ttl_ms: 60_000 });
  const { key_id, api_key } = await keys.create({ name: 'cached', company_ids: [COMPANY] });
  for (let call = 0; call < 5; call += 1) {
    const scope = await keys.verify(api_key);
    assert.equal(scope?.key_id, key_id);
    assert.deepEqual([...scope!.company_ids], [COMPANY]);
  }
  assert.equal(counted.reads(), 1, 'five calls, one read');
  const wrongSecret = `${api_key.slice(0, -1)}${api_key.endsWith('A') ? 'B' : 'A'}`;
  assert.equal(await keys.verify(wrongSecret), null);
  assert.equal(counted.reads(), 1, 'the wrong secret was compared with the cached hash');
  assert.equal(await keys.revoke(key_id), true);
  assert.equal(await keys.verify(api_key), null, 'revoked through the store: refused at once');
});

test('a key revoked by another process is refused once the TTL has passed', async () => {
  const ttl_ms = 300;
  const keys = createApiKeyStore(pool, { cache_ttl_ms: ttl_ms });
  const { key_id, api_key } = await keys.create({ name: 'revoked-elsewhere', company_ids: [COMPANY] });
  assert.ok(await keys.verify(api_key));
  // What `npm run cli -- keys revoke` does from its own process.
  const other = createApiKeyStore(pool, { cache_ttl_ms: ttl_ms });
  assert.equal(await other.revoke(key_id), true);
  await sleep(ttl_ms + 50);
  assert.equal(await keys.verify(api_key), null);
  // revokeNamed forgets the keys it revoked, too.
  const named = await keys.create({ name: 'named-batch', company_ids: [COMPANY] });
  assert.ok(await keys.verify(named.api_key));
  assert.equal(await keys.revokeNamed('named-batch'), 1);
  assert.equal(await keys.verify(named.api_key), null);
});

test('without a TTL every call reads the database; a bad TTL is refused', async () => {
  const counted = countingPool();
  const keys = createApiKeyStore(counted.pool, { cache_ttl_ms: 0 });
  const { api_key } = await keys.create({ name: 'uncached', company_ids: [COMPANY] });
  await keys.verify(api_key);
  await keys.verify(api_key);
  assert.equal(counted.reads(), 2);
  assert.throws(() => createApiKeyStore(pool, { cache_ttl_ms: -1 }), /cache_ttl_ms must be 0\.\.60000/);
});
