// The ledger under load and faults: group commit through the batcher against a real Postgres,
// concurrent batches that cross accounts in opposite orders, and a connection killed mid-batch.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AccountFlags, TransferFlags } from '../../src/domain/ledger.js';
import { createTransferBatcher } from '../../src/ledger/batcher.js';
import { createPool, type Pool } from '../../src/ledger/db.js';
import { createLedger, type Ledger, type TransferInput } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase, testEnv } from '../support/env.js';
import { startPgProxy } from '../support/pg-proxy.js';

let pool: Pool;
let url: string;
let ownerUrl: string;
let ledger: Ledger;
before(async () => {
  ({ pool, url, ownerUrl } = await freshDatabase('ledger_batcher'));
  ledger = createLedger(pool);
});
after(async () => {
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, []);
  await pool.end();
});

async function accounts(n: number, flags: number) {
  const ids = Array.from({ length: n }, () => randomUUID());
  const results = await ledger.createAccounts(ids.map((id) => ({ id, currency: 'USD', code: 1, flags })));
  assert.ok(results.every((r) => r.result === 'created'));
  return ids;
}

/** n credit lines granted 1,000 each, and a hot account (no flags) to spend them into. */
async function grantedLines(n: number) {
  const [issuer] = await accounts(1, 0);
  const [hot] = await accounts(1, 0);
  const lines = await accounts(n, AccountFlags.debits_must_not_exceed_credits);
  await ledger.createTransfers(
    lines.map((c) => ({
      id: randomUUID(),
      debit_account_id: issuer!,
      credit_account_id: c,
      amount_minor: 1_000,
      currency: 'USD',
      code: 1,
    })),
  );
  return { hot: hot!, lines };
}

describe('group commit', () => {
  test('many concurrent callers on one hot account: batches form, counters are exact, limits hold', async () => {
    const { hot, lines: customers } = await grantedLines(50);
    const batcher = createTransferBatcher(ledger, {
      batch_size_max: 100,
      batch_wait_ms_max: 0,
      queue_length_max: 10_000,
      batches_in_flight_max: 1,
    });
    // 50 customers x 30 attempts of 40 = 1200 per customer, over their 1000 limit: 25 fit each.
    const attempts = customers.flatMap((c) => Array.from({ length: 30 }, () => c));
    const outcomes = await Promise.all(
      attempts.map((c) =>
        batcher.submit([{ id: randomUUID(), debit_account_id: c, credit_account_id: hot, amount_minor: 40, currency: 'USD', code: 2 }]),
      ),
    );
    const created = outcomes.filter(([o]) => o!.result === 'created').length;
    assert.equal(created, 50 * 25);
    assert.equal(outcomes.filter(([o]) => o!.result === 'exceeds_credits').length, 50 * 5);
    const stats = batcher.stats();
    assert.ok(stats.batches < attempts.length / 5, `requests were coalesced: ${stats.batches} batches for ${attempts.length} transfers`);
    const [hotAccount] = await ledger.getAccounts([hot]);
    assert.equal(hotAccount!.credits_posted, BigInt(50 * 25 * 40));
    for (const a of await ledger.getAccounts(customers)) assert.equal(a.debits_posted, 1_000n);
    await batcher.close();
  });

  test('two batches in flight on shared credit lines: limits exact, each id applied once, each hold resolved once', async () => {
    // Pipelining: the batcher writes a second batch on another connection while the first is in
    // the database. The batches share credit lines (row locks, taken in id order, serialize them)
    // and every request is submitted twice at once (the same id racing in two batches: the id
    // registry and the locks make one of them `exists`).
    const { hot, lines } = await grantedLines(8);
    const batcher = createTransferBatcher(ledger, {
      batch_size_max: 16,
      batch_wait_ms_max: 0,
      queue_length_max: 10_000,
      batches_in_flight_max: 2,
    });
    const twice = async (t: TransferInput) => {
      const [[a], [b]] = await Promise.all([batcher.submit([t]), batcher.submit([t])]);
      const results = [a!.result, b!.result].sort();
      // Both answers agree on the outcome: applied once (created + exists), or refused once.
      assert.ok(
        (results[0] === 'created' && results[1] === 'exists') ||
          (results[0] !== 'created' && results[0] !== 'exists' && results[1] !== 'created' && results[1] !== 'exists'),
        `one id, two answers: ${results.join(', ')}`,
      );
      return results.includes('created');
    };
    // 30 holds of 40 per line against a limit of 1,000: exactly 25 fit on each.
    const holds = lines.flatMap((line) =>
      Array.from({ length: 30 }, () => ({
        id: randomUUID(),
        debit_account_id: line,
        credit_account_id: hot,
        amount_minor: 40,
        currency: 'USD' as const,
        code: 100,
        flags: TransferFlags.pending,
      })),
    );
    const created = await Promise.all(holds.map(twice));
    const kept = holds.filter((_, k) => created[k]);
    assert.equal(kept.length, lines.length * 25);
    // Each kept hold is posted for 30 (the rest released) and voided at once, both twice: exactly
    // one of the post and the void wins each hold.
    const resolutions = await Promise.all(
      kept.map((h) =>
        Promise.all([
          twice({ id: randomUUID(), pending_id: h.id, amount_minor: 30, code: 101, flags: TransferFlags.post_pending }),
          twice({ id: randomUUID(), pending_id: h.id, code: 102, flags: TransferFlags.void_pending }),
        ]),
      ),
    );
    assert.ok(
      resolutions.every(([post, voided]) => post !== voided),
      'each hold resolved exactly once',
    );
    const posts = resolutions.filter(([post]) => post).length;
    assert.equal(batcher.stats().batches_in_flight_max_seen, 2, 'two batches were in flight at once');
    await batcher.close();
    const balances = await ledger.getAccounts(lines);
    assert.equal(
      balances.reduce((s, a) => s + a.debits_posted, 0n),
      BigInt(posts * 30),
    );
    for (const a of balances) {
      assert.equal(a.debits_pending, 0n, 'every hold resolved');
      assert.ok(a.debits_posted <= a.credits_posted, 'within the limit');
    }
    const [hotAccount] = await ledger.getAccounts([hot]);
    assert.equal(hotAccount!.credits_posted, BigInt(posts * 30));
    assert.equal(hotAccount!.credits_pending, 0n);
  });

  test('retrying a whole batch any number of times gives the same results and balances', async () => {
    const [a, b] = await accounts(2, 0);
    const [line] = await accounts(1, AccountFlags.debits_must_not_exceed_credits);
    await ledger.createTransfers([
      { id: randomUUID(), debit_account_id: a!, credit_account_id: line!, amount_minor: 500, currency: 'USD', code: 1 },
    ]);
    const hold = randomUUID();
    const batch: TransferInput[] = [
      {
        id: hold,
        debit_account_id: line!,
        credit_account_id: b!,
        amount_minor: 300,
        currency: 'USD',
        code: 1,
        flags: TransferFlags.pending,
      },
      { id: randomUUID(), pending_id: hold, amount_minor: 200, code: 2, flags: TransferFlags.post_pending },
      { id: randomUUID(), debit_account_id: line!, credit_account_id: b!, amount_minor: 400, currency: 'USD', code: 1 },
      {
        id: randomUUID(),
        debit_account_id: line!,
        credit_account_id: b!,
        amount_minor: 350,
        currency: 'USD',
        code: 1,
        flags: TransferFlags.linked,
      },
      { id: randomUUID(), debit_account_id: b!, credit_account_id: a!, amount_minor: 10, currency: 'USD', code: 1 },
    ];
    const first = (await ledger.createTransfers(batch)).map((r) => r.result);
    assert.deepEqual(first, ['created', 'created', 'exceeds_credits', 'exceeds_credits', 'linked_event_failed']);
    const balances = async () =>
      (await ledger.getAccounts([a!, b!, line!])).map((x) => [x.debits_pending, x.debits_posted, x.credits_pending, x.credits_posted]);
    const after1 = await balances();
    for (let i = 0; i < 3; i += 1) {
      const again = (await ledger.createTransfers(batch)).map((r) => r.result);
      assert.deepEqual(again, ['exists', 'exists', 'id_already_failed', 'id_already_failed', 'linked_event_failed']);
      assert.deepEqual(await balances(), after1);
    }
    const part = (await ledger.createTransfers(batch.slice(1, 3))).map((r) => r.result);
    assert.deepEqual(part, ['exists', 'id_already_failed']);
    assert.deepEqual(await balances(), after1);
  });
});

describe('concurrency and faults', () => {
  test('concurrent batches crossing the same accounts in opposite orders never deadlock', async () => {
    const ids = await accounts(6, 0);
    const forward = (): TransferInput[] =>
      ids.slice(0, -1).map((id, i) => ({
        id: randomUUID(),
        debit_account_id: id,
        credit_account_id: ids[i + 1]!,
        amount_minor: 1,
        currency: 'USD' as const,
        code: 1,
      }));
    const backward = (): TransferInput[] =>
      ids
        .slice(1)
        .map((id, i) => ({
          id: randomUUID(),
          debit_account_id: id,
          credit_account_id: ids[i]!,
          amount_minor: 1,
          currency: 'USD' as const,
          code: 1,
        }))
        .reverse();
    const runs = await Promise.all(Array.from({ length: 40 }, (_, i) => ledger.createTransfers(i % 2 ? forward() : backward())));
    assert.ok(runs.flat().every((r) => r.result === 'created'));
    const sums = await ledger.getAccounts(ids);
    assert.equal(
      sums.reduce((s, a) => s + a.debits_posted, 0n),
      BigInt(40 * 5),
    );
    assert.equal(
      sums.reduce((s, a) => s + a.credits_posted, 0n),
      BigInt(40 * 5),
    );
  });

  test('a connection killed in the middle of a batch leaves nothing behind; the ledger retries and applies it once', async () => {
    const [a, b] = await accounts(2, 0);
    const batch: TransferInput[] = Array.from({ length: 20 }, () => ({
      id: randomUUID(),
      debit_account_id: a!,
      credit_account_id: b!,
      amount_minor: 7,
      currency: 'USD' as const,
      code: 1,
    }));
    // Make the batch's write statement slow where it books the (hot) accounts' deltas, so that it is killed after
    // its transfers were inserted but before it commits.
    const admin = new pg.Client({ connectionString: ownerUrl });
    await admin.connect();
    const superuser = new pg.Client({ connectionString: testEnv.databaseUrl });
    await superuser.connect();
    try {
      await admin.query(
        `CREATE FUNCTION pg_temp_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$`,
      );
      await admin.query(
        `CREATE TRIGGER slow_update BEFORE INSERT OR UPDATE ON ledger.account_buckets FOR EACH ROW WHEN (NEW.account_id = '${a}') EXECUTE FUNCTION pg_temp_slow()`,
      );
      const killable = createLedger(pool);
      const attempt = killable.createTransfers(batch).then(
        () => null,
        (err: unknown) => err as Error,
      );
      let killed = 0;
      for (let i = 0; i < 50 && killed === 0; i += 1) {
        await new Promise((r) => setTimeout(r, 100));
        // Only a superuser sees and ends another role's session: the test server's own account. The
        // batch's write round trip is one call of ledger.batch_write.
        const res = await superuser.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%ledger.batch_write(%' AND pid <> pg_backend_pid()`,
        );
        killed = res.rowCount ?? 0;
      }
      assert.equal(killed, 1, 'the batch was caught mid-write');
      // Killed before COMMIT: nothing of the first attempt committed; the ledger ran the batch again
      // on a new connection (still slow: the trigger is in place) and applied it once.
      const outcome = await attempt;
      assert.equal(outcome, null, `the retried batch succeeded: ${String(outcome?.message)}`);
      const written = await admin.query('SELECT count(*)::int AS n FROM ledger.transfers WHERE id = ANY($1::uuid[])', [
        batch.map((t) => t.id),
      ]);
      assert.equal(written.rows[0].n, 20, 'each transfer once');
      await admin.query('DROP TRIGGER slow_update ON ledger.account_buckets');
      const retried = await ledger.createTransfers(batch);
      assert.ok(retried.every((r) => r.result === 'exists'));
      const [afterRetry] = await ledger.getAccounts([a!]);
      assert.equal(afterRetry!.debits_posted, 140n);
    } finally {
      await admin.query('DROP TRIGGER IF EXISTS slow_update ON ledger.account_buckets').catch(() => undefined);
      await admin.end();
      await superuser.end();
    }
  });

  test('a connection lost after COMMIT was sent: the retry answers exists, never a second posting', async () => {
    const [a, b] = await accounts(2, 0);
    const [line] = await accounts(1, AccountFlags.debits_must_not_exceed_credits);
    await ledger.createTransfers([
      { id: randomUUID(), debit_account_id: a!, credit_account_id: line!, amount_minor: 1_000, currency: 'USD', code: 1 },
    ]);
    const batch: TransferInput[] = [
      {
        id: randomUUID(),
        debit_account_id: line!,
        credit_account_id: b!,
        amount_minor: 300,
        currency: 'USD',
        code: 1,
        flags: TransferFlags.pending,
      },
      { id: randomUUID(), debit_account_id: a!, credit_account_id: b!, amount_minor: 5, currency: 'USD', code: 1 },
    ];
    const proxy = await startPgProxy(url);
    const lossy = createPool(proxy.url, { connections_max: 2, application_name: 'test-lossy' });
    try {
      // The write round trip carries the COMMIT; the server commits, the answer never arrives.
      proxy.dropAfter('COMMIT', 300);
      const outcomes = await createLedger(lossy).createTransfers(batch);
      assert.equal(proxy.dropped(), 1, 'the connection was cut after COMMIT was sent');
      assert.deepEqual(
        outcomes.map((o) => o.result),
        ['exists', 'exists'],
        'the retry found the committed batch',
      );
      const [held] = await ledger.getAccounts([line!]);
      assert.equal(held!.debits_pending, 300n, 'the hold was posted once');
      const [hot] = await ledger.getAccounts([b!]);
      assert.equal(hot!.credits_posted, 5n);
      assert.equal(hot!.credits_pending, 300n);
    } finally {
      await lossy.end();
      await proxy.close();
    }
  });

  test('a caller whose transfer lacks a required field fails alone; the batch it would have joined commits', async () => {
    const [a, b] = await accounts(2, 0);
    const batcher = createTransferBatcher(ledger, {
      batch_size_max: 100,
      batch_wait_ms_max: 50,
      queue_length_max: 1000,
      batches_in_flight_max: 1,
    });
    const good = batcher.submit([
      { id: randomUUID(), debit_account_id: a!, credit_account_id: b!, amount_minor: 1, currency: 'USD', code: 1 },
    ]);
    const bad = batcher.submit([{ id: randomUUID(), debit_account_id: a!, credit_account_id: b!, currency: 'USD', code: 1 }]);
    const [goodResult, badResult] = await Promise.allSettled([good, bad]);
    assert.equal(goodResult.status, 'fulfilled', String((goodResult as PromiseRejectedResult).reason));
    assert.equal((goodResult as PromiseFulfilledResult<Array<{ result: string }>>).value[0]!.result, 'created');
    assert.equal(badResult.status, 'rejected');
    assert.match(String((badResult as PromiseRejectedResult).reason), /amount_minor/);
    await batcher.close();
  });
});
