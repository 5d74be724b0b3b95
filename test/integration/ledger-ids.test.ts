// Values that reach SQL, and ids at the ledger's boundary: a payment id spelled like SQL's NULL
// or an array literal's metacharacters, and UUIDs in either case.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { AccountCode, AccountFlags, TransferFlags } from '../../src/domain/ledger.js';
import type { Pool } from '../../src/ledger/db.js';
import { LedgerInputError, createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase } from '../support/env.js';

let pool: Pool;
let ledger: Ledger;

before(async () => {
  ({ pool } = await freshDatabase('ledger_ids'));
  ledger = createLedger(pool);
});
after(async () => {
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, [], 'ledger invariants after the whole file');
  await pool.end();
});

async function accounts() {
  const issuer = randomUUID();
  const company = randomUUID();
  const created = await ledger.createAccounts([
    { id: issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
    { id: company, currency: 'USD', code: AccountCode.company_credit_line, flags: AccountFlags.debits_must_not_exceed_credits },
  ]);
  assert.deepEqual(
    created.map((r) => r.result),
    ['created', 'created'],
  );
  return { issuer, company };
}

describe('no value reaches SQL unquoted', () => {
  for (const payment_id of ['null', 'NULL', 'Null', 'p'.repeat(64)]) {
    test(`payment id ${JSON.stringify(payment_id.slice(0, 8))} (${payment_id.length} chars) is stored as itself`, async () => {
      const { issuer, company } = await accounts();
      const transfer = {
        id: randomUUID(),
        debit_account_id: issuer,
        credit_account_id: company,
        amount_minor: 100,
        currency: 'USD' as const,
        code: 1,
        payment_id,
      };
      const [first] = await ledger.createTransfers([transfer]);
      assert.equal(first!.result, 'created');
      assert.equal(first!.transfer!.payment_id, payment_id);
      const page = await ledger.listTransfers({ payment_id }, { limit: 10 });
      assert.deepEqual(
        page.transfers.map((t) => [t.id, t.payment_id]),
        [[transfer.id, payment_id]],
      );
      const [retry] = await ledger.createTransfers([transfer]);
      assert.equal(retry!.result, 'exists', 'a retried step finds its transfer');
    });
  }

  for (const payment_id of ['"', '\\', '{a,b}', "'", 'p'.repeat(65)]) {
    test(`payment id ${JSON.stringify(payment_id.slice(0, 8))} is refused with a clear error and nothing is written`, async () => {
      const { issuer, company } = await accounts();
      const id = randomUUID();
      await assert.rejects(
        ledger.createTransfers([
          { id, debit_account_id: issuer, credit_account_id: company, amount_minor: 100, currency: 'USD', code: 1, payment_id },
        ]),
        (err: Error) => err instanceof LedgerInputError && /payment_id/.test(err.message),
      );
      assert.deepEqual(await ledger.getTransfers([id]), []);
    });
  }

  test('a pending transfer resolved in the same batch keeps the payment id null', async () => {
    const { issuer, company } = await accounts();
    const hold = randomUUID();
    const outcomes = await ledger.createTransfers([
      {
        id: hold,
        debit_account_id: issuer,
        credit_account_id: company,
        amount_minor: 50,
        currency: 'USD',
        code: 1,
        flags: TransferFlags.pending,
      },
      { id: randomUUID(), pending_id: hold, code: 1, flags: TransferFlags.post_pending, payment_id: 'null' },
    ]);
    assert.deepEqual(
      outcomes.map((o) => [o.result, o.transfer?.payment_id]),
      [
        ['created', null],
        ['created', 'null'],
      ],
    );
  });
});

describe('UUIDs are lowercased at the boundary', () => {
  test('an uppercase id finds its transfer (exists), and uppercase account ids are the same accounts', async () => {
    const { issuer, company } = await accounts();
    const id = randomUUID();
    const transfer = { id, debit_account_id: issuer, credit_account_id: company, amount_minor: 10, currency: 'USD' as const, code: 1 };
    const [first] = await ledger.createTransfers([transfer]);
    assert.equal(first!.result, 'created');
    const upper = {
      ...transfer,
      id: id.toUpperCase(),
      debit_account_id: issuer.toUpperCase(),
      credit_account_id: company.toUpperCase(),
    };
    const [retry] = await ledger.createTransfers([upper]);
    assert.equal(retry!.result, 'exists');
    assert.equal(retry!.id, id, 'outcomes carry the canonical id');
    assert.equal((await ledger.getTransfers([id.toUpperCase()])).length, 1);
    assert.equal((await ledger.getAccounts([company.toUpperCase()]))[0]?.id, company);
    assert.equal((await ledger.getBalance(company.toUpperCase()))?.credits_posted, 10n, 'posted once');
    const page = await ledger.listTransfers({ account_id: company.toUpperCase() }, { limit: 10 });
    assert.equal(page.transfers.length, 1);
  });

  test('an account created with an uppercase id is stored lowercase and found by either spelling', async () => {
    const id = randomUUID();
    const [created] = await ledger.createAccounts([{ id: id.toUpperCase(), currency: 'USD', code: AccountCode.payouts_payable }]);
    assert.deepEqual(created, { id, result: 'created' });
    const [again] = await ledger.createAccounts([{ id, currency: 'USD', code: AccountCode.payouts_payable }]);
    assert.equal(again!.result, 'exists');
  });
});
