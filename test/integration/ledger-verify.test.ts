// The verifier must catch what it claims to check: a clean ledger passes; tampered counters,
// a broken limit and a doubly resolved hold each fail, through the library and the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { AccountFlags, TransferFlags } from '../../src/domain/ledger.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase } from '../support/env.js';

function verifyCli(databaseUrl: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/ledger/verify-cli.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
}

async function scenario(label: string) {
  const { pool, url } = await freshDatabase(label);
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
      assert.match(cli.stdout, /invariants 1-4: OK/);
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
});
