// The verifier must catch what it claims to check: a clean ledger passes; tampered counters,
// a broken limit and a doubly resolved hold each fail, through the library and the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { AccountCode, AccountFlags, TransferCode, TransferFlags } from '../../src/domain/ledger.js';
import type { SpendLimit } from '../../src/domain/spend-limits.js';
import { applicableLimits, limitSetup, limitUses } from '../../src/ledger/spend-limits.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { createPool } from '../../src/ledger/db.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import type { PaymentState } from '../../src/domain/payment.js';
import { freshDatabase } from '../support/env.js';

function verifyCli(databaseUrl: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/ledger/verify-cli.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
}

async function scenario(label: string) {
  // The verifier's tests tamper with the ledger, which only the owner role can: they work as it.
  const { pool: appPool, url, ownerUrl } = await freshDatabase(label);
  await appPool.end();
  const pool = createPool(ownerUrl, { connections_max: 4, application_name: `test-${label}` });
  const ledger = createLedger(pool);
  const [issuer, line, payable] = [randomUUID(), randomUUID(), randomUUID()];
  await ledger.createAccounts([
    { id: issuer, currency: 'USD', code: 10 },
    { id: line, currency: 'USD', code: 1, flags: AccountFlags.debits_must_not_exceed_credits },
    { id: payable, currency: 'USD', code: 20 },
  ]);
  const hold = randomUUID();
  const results = await ledger.createTransfers([
    { id: randomUUID(), debit_account_id: issuer, credit_account_id: line, amount_minor: 1_000, currency: 'USD', code: 1 },
    {
      id: hold,
      debit_account_id: line,
      credit_account_id: payable,
      amount_minor: 300,
      currency: 'USD',
      code: 100,
      flags: TransferFlags.pending,
    },
    { id: randomUUID(), pending_id: hold, amount_minor: 200, code: 101, flags: TransferFlags.post_pending },
  ]);
  assert.deepEqual(
    results.map((r) => r.result),
    ['created', 'created', 'created'],
  );
  return { pool, url, issuer, line, payable, hold };
}

describe('ledger verifier', () => {
  test('a clean ledger passes, in the library and the CLI (exit 0)', async () => {
    const { pool, url } = await scenario('verify_clean');
    try {
      const report = await verifyLedger(pool);
      assert.equal(report.ok, true, JSON.stringify(report.violations));
      assert.equal(report.transfers, 3);
      const cli = verifyCli(url);
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /invariants: OK/);
      // Each invariant on its own line, with how much it checked.
      assert.match(cli.stdout, /^\[1\] debits equal credits per currency .*: OK \(1 currencies\)$/m);
      assert.match(cli.stdout, /^\[2\] every account's counters .*: OK \(3 accounts\)$/m);
      assert.match(cli.stdout, /^\[3\] no account violates its flags: OK \(3 accounts\)$/m);
      assert.match(cli.stdout, /^\[4\] .*: OK \(1 resolutions\)$/m);
      assert.match(cli.stdout, /^\[5\] every finished payment's transfers agree with its final state: NOT CHECKED/m);
      assert.match(cli.stdout, /^\[6\] an id is a transfer or a refused id, never both: OK \(3 ids\)$/m);
      assert.match(cli.stdout, /^\[7\] accounts with limit flags have no bucket rows: OK \(1 limit accounts\)$/m);
    } finally {
      await pool.end();
    }
  });

  test('tampered counters break invariants 1 and 2; the CLI exits 1', async () => {
    const { pool, url, line } = await scenario('verify_counters');
    try {
      await pool.query('UPDATE ledger.accounts SET debits_posted = debits_posted + 1 WHERE id = $1', [line]);
      const report = await verifyLedger(pool);
      assert.equal(report.ok, false);
      assert.ok(report.violations.some((v) => v.invariant === 1 && /debits_posted/.test(v.detail)));
      assert.ok(report.violations.some((v) => v.invariant === 2 && v.detail.includes(line)));
      const cli = verifyCli(url);
      assert.equal(cli.status, 1);
      assert.match(cli.stdout, /\[2\] account .* debits_posted is 201, its transfers sum to 200/);
    } finally {
      await pool.end();
    }
  });

  test('a hot account whose buckets disagree with its transfers is caught', async () => {
    const { pool, payable } = await scenario('verify_buckets');
    try {
      await pool.query('UPDATE ledger.account_buckets SET credits_posted = credits_posted + 5 WHERE account_id = $1', [payable]);
      const report = await verifyLedger(pool);
      assert.ok(report.violations.some((v) => v.invariant === 2 && v.detail.includes(payable)));
    } finally {
      await pool.end();
    }
  });

  test('a pending transfer resolved twice breaks invariant 4', async () => {
    const { pool, hold } = await scenario('verify_resolution');
    try {
      // Only a bypass of the engine can do this: drop the database's own guard first.
      await pool.query('DROP INDEX ledger.transfers_pending_resolved_once');
      const [original] = (await pool.query('SELECT * FROM ledger.transfers WHERE pending_id = $1', [hold])).rows;
      await pool.query(
        `INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, currency, code, flags, pending_id)
         VALUES ($1, $2, $3, 100, 'USD', 102, $4, $5)`,
        [randomUUID(), original.debit_account_id, original.credit_account_id, TransferFlags.void_pending, hold],
      );
      const report = await verifyLedger(pool);
      assert.ok(report.violations.some((v) => v.invariant === 4 && /resolved more than once/.test(v.detail)));
    } finally {
      await pool.end();
    }
  });
  test('an id both created and refused breaks invariant 6', async () => {
    const { pool, hold } = await scenario('verify_ids');
    try {
      await pool.query('ALTER TABLE ledger.transfer_failures DISABLE TRIGGER transfer_failures_register_ids');
      await pool.query(`INSERT INTO ledger.transfer_failures (id, result) VALUES ($1, 'exceeds_credits')`, [hold]);
      const report = await verifyLedger(pool);
      assert.ok(
        report.violations.some((v) => v.invariant === 6 && v.detail.includes(hold)),
        JSON.stringify(report.violations),
      );
    } finally {
      await pool.end();
    }
  });

  test('a bucket row on a credit line breaks invariant 7', async () => {
    const { pool, line } = await scenario('verify_limit_buckets');
    try {
      await pool.query('INSERT INTO ledger.account_buckets (account_id, bucket) VALUES ($1, 3)', [line]);
      const report = await verifyLedger(pool);
      assert.ok(
        report.violations.some((v) => v.invariant === 7 && v.detail.includes(line)),
        JSON.stringify(report.violations),
      );
    } finally {
      await pool.end();
    }
  });

  test('invariant 5: a finished payment whose transfers disagree with its state is caught; running ones are not compared', async () => {
    const { pool, line, payable } = await scenario('verify_payments');
    try {
      const ledger = createLedger(pool);
      const hold = randomUUID();
      await ledger.createTransfers([
        {
          id: hold,
          debit_account_id: line,
          credit_account_id: payable,
          amount_minor: 50,
          currency: 'USD',
          code: 100,
          flags: TransferFlags.pending,
          payment_id: 'po-1',
        },
        { id: randomUUID(), pending_id: hold, code: 101, flags: TransferFlags.post_pending, payment_id: 'po-1' },
        {
          id: randomUUID(),
          debit_account_id: line,
          credit_account_id: payable,
          amount_minor: 5,
          currency: 'USD',
          code: 100,
          flags: TransferFlags.pending,
          payment_id: 'po-2',
        },
      ]);
      const state = (payment_id: string, status: PaymentState['status'], posted_minor: number, held_minor: number): PaymentState =>
        ({
          payment_id,
          kind: 'payout',
          status,
          currency: 'USD',
          amount_minor: 50,
          authorized_minor: 50,
          held_minor,
          posted_minor,
          reversed_minor: 0,
          refunded_minor: 0,
        }) as unknown as PaymentState;
      const agreeing = await verifyLedger(pool, {
        paymentState: async (id) => (id === 'po-1' ? state(id, 'SETTLED', 50, 0) : state(id, 'AUTHORIZED', 0, 5)),
      });
      assert.deepEqual(agreeing.violations, []);
      const five = agreeing.checks.find((c) => c.invariant === 5)!;
      assert.equal(five.checked, 1);
      assert.match(five.note ?? '', /1 still running/);
      const disagreeing = await verifyLedger(pool, { paymentState: async (id) => state(id, 'SETTLED', 40, 0) });
      assert.ok(
        disagreeing.violations.some(
          (v) => v.invariant === 5 && /po-1 \(SETTLED\): charged 50 in the ledger, 40 by its state/.test(v.detail),
        ),
      );
      assert.ok(disagreeing.violations.some((v) => v.invariant === 5 && /po-2 .*holds 5 in the ledger, 0/.test(v.detail)));
    } finally {
      await pool.end();
    }
  });

  test('invariant 9: a use of a spend limit with no open hold, a probe left pending, a window without its flag are caught', async () => {
    const { pool, line, payable } = await scenario('verify_spend_limits');
    try {
      const ledger = createLedger(pool);
      const day: SpendLimit = { window: 'day', measure: 'amount', limit: 500, mccs: [] };
      const [window] = applicableLimits(
        { card_id: 'c-1', company_id: 'co-1', currency: 'USD', spend_limits: [day], company_spend_limits: [] },
        '5411',
        Date.UTC(2026, 11, 2),
      );
      const { accounts, grants } = limitSetup([window!]);
      await ledger.createAccounts(accounts);
      assert.deepEqual(
        (await ledger.createTransfers(grants)).map((r) => r.result),
        ['created'],
      );
      // A hold with its use and a checked probe, as an authorization writes them: clean.
      const held = limitUses('p-held', 'authorization', [window!], 100, true).chain;
      const hold = { id: randomUUID(), debit_account_id: line, credit_account_id: payable, amount_minor: 100, currency: 'USD' as const };
      const outcomes = await ledger.createTransfers([
        ...held,
        { ...hold, code: TransferCode.card_hold, flags: TransferFlags.pending, payment_id: 'p-held' },
      ]);
      assert.ok(
        outcomes.every((o) => o.result === 'created'),
        JSON.stringify(outcomes),
      );
      assert.deepEqual((await verifyLedger(pool)).violations, []);
      // A use with no hold beside it (its room would never come back), and a probe nobody voided.
      const [stray, probe] = limitUses('p-stray', 'authorization', [window!], 100, true).chain;
      await ledger.createTransfers([
        { ...stray!, flags: TransferFlags.pending },
        { ...probe!, flags: TransferFlags.pending },
      ]);
      await ledger.createAccounts([{ id: randomUUID(), currency: 'XXX', code: AccountCode.spend_limit_amount }]);
      const report = await verifyLedger(pool);
      const details = report.violations.filter((v) => v.invariant === 9).map((v) => v.detail);
      assert.equal(details.length, 3, JSON.stringify(report.violations));
      assert.ok(details.some((d) => /use of payment p-stray held with no open hold/.test(d)));
      assert.ok(details.some((d) => d.includes(probe!.id) && /probe left pending/.test(d)));
      assert.ok(details.some((d) => /has no debits_must_not_exceed_credits flag/.test(d)));
    } finally {
      await pool.end();
    }
  });
});
