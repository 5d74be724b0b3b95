// Bounded waits: a batch whose client stalls between its two round trips, holding a credit
// line's row lock, is cut off by the server (idle_in_transaction_session_timeout) and retried;
// another worker's batch on the same credit line goes on meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AccountCode, AccountFlags, TransferFlags } from '../../src/domain/ledger.js';
import { createPool, DatabaseBusyError, type Pool } from '../../src/ledger/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase } from '../support/env.js';

let url: string;
let pool: Pool;
const pools: Pool[] = [];

before(async () => {
  ({ url, pool } = await freshDatabase('ledger_bounded_waits'));
});
after(async () => {
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, [], 'ledger invariants after the whole file');
  await Promise.all([pool, ...pools].map((p) => p.end()));
});

/** A worker's pool with short server-side bounds, so the test runs in seconds. */
function workerPool(name: string): Pool {
  const p = createPool(url, {
    connections_max: 2,
    application_name: name,
    timeouts: { lock_timeout_ms: 3_000, statement_timeout_ms: 5_000, idle_in_transaction_session_timeout_ms: 400 },
  });
  pools.push(p);
  return p;
}

describe('bounded waits', () => {
  test('a client paused between its round trips loses its locks; other batches go on; the paused batch is retried', async () => {
    const issuer = randomUUID();
    const company = randomUUID();
    const payable = randomUUID();
    const setup = createLedger(pool);
    await setup.createAccounts([
      { id: issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
      { id: company, currency: 'USD', code: AccountCode.company_credit_line, flags: AccountFlags.debits_must_not_exceed_credits },
      { id: payable, currency: 'USD', code: AccountCode.payouts_payable },
    ]);
    await setup.createTransfers([
      { id: randomUUID(), debit_account_id: issuer, credit_account_id: company, amount_minor: 1_000, currency: 'USD', code: 1 },
    ]);
    const hold = (id: string) => ({
      id,
      debit_account_id: company,
      credit_account_id: payable,
      amount_minor: 100,
      currency: 'USD' as const,
      code: 100,
      flags: TransferFlags.pending,
    });

    // Worker A takes the credit line's lock, then its process stalls (GC pause, CPU starvation,
    // a debugger) for 3 s before its write round trip; only its first attempt stalls.
    let locked!: () => void;
    const lockedNow = new Promise<void>((resolve) => (locked = resolve));
    let stalls = 0;
    const paused = createLedger(workerPool('worker-a'), {
      betweenRoundTrips: async () => {
        stalls += 1;
        if (stalls > 1) return;
        locked();
        await sleep(3_000);
      },
    });
    const other = createLedger(workerPool('worker-b'));

    const a = hold(randomUUID());
    const started = performance.now();
    const aDone = paused.createTransfers([a]);
    await lockedNow;
    const [b] = await other.createTransfers([hold(randomUUID())]);
    const bLatency = performance.now() - started;
    assert.equal(b!.result, 'created');
    assert.ok(bLatency < 2_500, `worker B waited ${Math.round(bLatency)} ms behind a stalled client`);

    const [aOutcome] = await aDone;
    assert.equal(aOutcome!.result, 'created', 'the stalled batch ran again on a new connection');
    assert.equal(stalls, 2, 'one retry');
    const [account] = await setup.getAccounts([company]);
    assert.equal(account!.debits_pending, 200n, 'each hold once');
    const report = await verifyLedger(pool);
    assert.deepEqual(report.violations, []);
  });
});

describe('bounded pool queue', () => {
  test('with every connection busy and waiting_max callers waiting, one more is refused at once, and the waiter is served', async () => {
    const p = createPool(url, { connections_max: 1, application_name: 'bounded-queue', waiting_max: 1 });
    pools.push(p);
    const held = await p.connect();
    const waiting = p.query('SELECT 1 AS one');
    // The second waiter is refused without waiting for a connection; a query checks out the same way.
    await assert.rejects(p.query('SELECT 2'), (err: Error) => err instanceof DatabaseBusyError && /waiting/.test(err.message));
    await assert.rejects(p.connect(), DatabaseBusyError);
    assert.equal(p.waitingCount, 1, 'the refused callers never joined the queue');
    held.release();
    assert.equal((await waiting).rows[0].one, 1);
    // With a connection idle again, callers are served as before.
    assert.equal((await p.query('SELECT 3 AS three')).rows[0].three, 3);
  });

  test('a bad waiting_max is refused', () => {
    assert.throws(() => createPool(url, { connections_max: 1, application_name: 'x', waiting_max: -1 }), /waiting_max must be 0\.\.100000/);
  });
});
