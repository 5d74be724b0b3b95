// Least privilege: the platform's processes connect as the app role, which can post transfers and
// read, and cannot rewrite the books. Each refusal is proved against the database itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { AccountCode, AccountFlags, TransferFlags } from '../../src/domain/ledger.js';
import type { Pool } from '../../src/ledger/db.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { TEST_ROLES, freshDatabase } from '../support/env.js';

let pool: Pool;
let ledger: Ledger;
let ids: { issuer: string; line: string; hot: string; transfer: string };

before(async () => {
  ({ pool } = await freshDatabase('ledger_privileges'));
  ledger = createLedger(pool);
  ids = { issuer: randomUUID(), line: randomUUID(), hot: randomUUID(), transfer: randomUUID() };
  await ledger.createAccounts([
    { id: ids.issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
    { id: ids.line, currency: 'USD', code: AccountCode.company_credit_line, flags: AccountFlags.debits_must_not_exceed_credits },
    { id: ids.hot, currency: 'USD', code: AccountCode.settlement_bank },
  ]);
  const outcomes = await ledger.createTransfers([
    { id: ids.transfer, debit_account_id: ids.issuer, credit_account_id: ids.line, amount_minor: 100, currency: 'USD', code: 1 },
    {
      id: randomUUID(),
      debit_account_id: ids.line,
      credit_account_id: ids.hot,
      amount_minor: 10,
      currency: 'USD',
      code: 100,
      flags: TransferFlags.pending,
    },
    { id: randomUUID(), debit_account_id: ids.line, credit_account_id: ids.hot, amount_minor: 1_000, currency: 'USD', code: 100 },
  ]);
  assert.deepEqual(
    outcomes.map((o) => o.result),
    ['created', 'created', 'exceeds_credits'],
    'the app role posts, holds and records refusals',
  );
});
after(async () => {
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, [], 'the app role can run the verifier; nothing was changed');
  await pool.end();
});

const denied = /permission denied|must be owner|must be superuser|permission to set parameter/;

describe('the app role', () => {
  test('is the role the pool connects as, and owns nothing', async () => {
    const { rows } = await pool.query<{ user: string; owned: number; superuser: boolean }>(
      `SELECT current_user AS user, r.rolsuper AS superuser,
              (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) +
              (SELECT count(*)::int FROM pg_namespace n WHERE n.nspowner = r.oid) +
              (SELECT count(*)::int FROM pg_proc p WHERE p.proowner = r.oid) AS owned
         FROM pg_roles r WHERE r.rolname = current_user`,
    );
    assert.deepEqual(rows[0], { user: TEST_ROLES.app.name, superuser: false, owned: 0 });
  });

  for (const [what, sql] of [
    ['UPDATE a transfer', `UPDATE ledger.transfers SET amount = 1`],
    ['DELETE a transfer', `DELETE FROM ledger.transfers`],
    ['TRUNCATE transfers', `TRUNCATE ledger.transfers`],
    ['UPDATE a refusal', `UPDATE ledger.transfer_failures SET result = 'x'`],
    ['DELETE a refusal', `DELETE FROM ledger.transfer_failures`],
    ['TRUNCATE refusals', `TRUNCATE ledger.transfer_failures`],
    ['DELETE a registered id', `DELETE FROM ledger.transfer_ids`],
    ['DELETE a bucket row', `DELETE FROM ledger.account_buckets`],
    ['TRUNCATE buckets', `TRUNCATE ledger.account_buckets`],
    ['DELETE an account', `DELETE FROM ledger.accounts`],
    ["change an account's currency", `UPDATE ledger.accounts SET currency = 'EUR'`],
    ['disable the append-only trigger', `ALTER TABLE ledger.transfers DISABLE TRIGGER transfers_append_only`],
    ['disable all triggers', `ALTER TABLE ledger.transfers DISABLE TRIGGER ALL`],
    ['drop the ledger', `DROP TABLE ledger.transfers`],
    ['set session_replication_role (skips triggers)', `SET session_replication_role = replica`],
    ['create a table in the ledger schema', `CREATE TABLE ledger.mine (id int)`],
    ['create a table in public', `CREATE TABLE public.mine (id int)`],
    ['change a migration record', `DELETE FROM public.schema_migrations`],
  ] as const) {
    test(`cannot ${what}`, async () => {
      await assert.rejects(pool.query(sql), denied);
    });
  }

  test('can close a credit line (the one flag change) and read balances', async () => {
    assert.equal(await ledger.closeAccount(ids.line), 'closed');
    const [line] = await ledger.getAccounts([ids.line]);
    assert.equal(line!.debits_pending, 10n);
  });
});
