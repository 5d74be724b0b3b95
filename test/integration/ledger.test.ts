// The posting engine against a real Postgres: two-phase transfers, idempotency, refusals,
// linked chains, concurrency, and the verifier after every scenario.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AccountCode, AccountFlags, TransferFlags } from '../../src/domain/ledger.js';
import type { Pool } from '../../src/ledger/db.js';
import { LedgerInputError, createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase } from '../support/env.js';

let pool: Pool;
let ownerUrl: string;
let ledger: Ledger;

before(async () => {
  ({ pool, ownerUrl } = await freshDatabase('ledger'));
  ledger = createLedger(pool);
});
after(async () => {
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, [], 'ledger invariants after the whole file');
  await pool.end();
});

async function assertInvariants() {
  const report = await verifyLedger(pool);
  assert.equal(report.ok, true, JSON.stringify(report.violations));
}

/** A credit line with `limit` granted, and a platform account to pay into. */
async function creditLine(limit: number) {
  const issuer = randomUUID();
  const company = randomUUID();
  const payable = randomUUID();
  const created = await ledger.createAccounts([
    { id: issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
    { id: company, currency: 'USD', code: AccountCode.company_credit_line, flags: AccountFlags.debits_must_not_exceed_credits },
    { id: payable, currency: 'USD', code: AccountCode.payouts_payable },
  ]);
  assert.deepEqual(
    created.map((r) => r.result),
    ['created', 'created', 'created'],
  );
  const [grant] = await ledger.createTransfers([
    { id: randomUUID(), debit_account_id: issuer, credit_account_id: company, amount_minor: limit, currency: 'USD', code: 1 },
  ]);
  assert.equal(grant!.result, 'created');
  return { issuer, company, payable };
}

async function counters(id: string) {
  const [a] = await ledger.getAccounts([id]);
  assert.ok(a, `account ${id} exists`);
  return {
    debits_pending: Number(a.debits_pending),
    debits_posted: Number(a.debits_posted),
    credits_pending: Number(a.credits_pending),
    credits_posted: Number(a.credits_posted),
  };
}

describe('two-phase transfers', () => {
  test('hold, partial post releases the rest, and a second resolution is refused', async () => {
    const { company, payable } = await creditLine(10_000);
    const hold = randomUUID();
    const [h] = await ledger.createTransfers([
      {
        id: hold,
        debit_account_id: company,
        credit_account_id: payable,
        amount_minor: 4_000,
        currency: 'USD',
        code: 100,
        flags: TransferFlags.pending,
      },
    ]);
    assert.equal(h!.result, 'created');
    assert.deepEqual(await counters(company), { debits_pending: 4_000, debits_posted: 0, credits_pending: 0, credits_posted: 10_000 });
    const held = (await ledger.getBalance(company))!;
    assert.equal(held.available, 6_000n);
    assert.equal(held.posted, 10_000n);
    assert.equal(held.pending, -4_000n);

    const [post] = await ledger.createTransfers([
      { id: randomUUID(), pending_id: hold, amount_minor: 2_500, code: 101, flags: TransferFlags.post_pending },
    ]);
    assert.equal(post!.result, 'created');
    assert.deepEqual(await counters(company), { debits_pending: 0, debits_posted: 2_500, credits_pending: 0, credits_posted: 10_000 });
    assert.deepEqual(await counters(payable), { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 2_500 });

    const [again] = await ledger.createTransfers([{ id: randomUUID(), pending_id: hold, code: 102, flags: TransferFlags.void_pending }]);
    assert.equal(again!.result, 'pending_transfer_already_posted');
    await assertInvariants();
  });

  test('void releases the whole hold; posting more than held is refused', async () => {
    const { company, payable } = await creditLine(1_000);
    const hold = randomUUID();
    await ledger.createTransfers([
      {
        id: hold,
        debit_account_id: company,
        credit_account_id: payable,
        amount_minor: 700,
        currency: 'USD',
        code: 100,
        flags: TransferFlags.pending,
      },
    ]);
    const [over] = await ledger.createTransfers([
      { id: randomUUID(), pending_id: hold, amount_minor: 701, code: 101, flags: TransferFlags.post_pending },
    ]);
    assert.equal(over!.result, 'exceeds_pending_transfer_amount');
    const [voided] = await ledger.createTransfers([{ id: randomUUID(), pending_id: hold, code: 102, flags: TransferFlags.void_pending }]);
    assert.equal(voided!.result, 'created');
    assert.deepEqual(await counters(company), { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 1_000 });
    const [late] = await ledger.createTransfers([{ id: randomUUID(), pending_id: hold, code: 101, flags: TransferFlags.post_pending }]);
    assert.equal(late!.result, 'pending_transfer_already_voided');
    await assertInvariants();
  });
});

describe('idempotency', () => {
  test('same id and fields is exists; a changed field names itself; nothing is written twice', async () => {
    const { company, payable } = await creditLine(5_000);
    const id = randomUUID();
    const t = {
      id,
      debit_account_id: company,
      credit_account_id: payable,
      amount_minor: 1_000,
      currency: 'USD' as const,
      code: 100,
      flags: TransferFlags.pending,
    };
    assert.equal((await ledger.createTransfers([t]))[0]!.result, 'created');
    assert.equal((await ledger.createTransfers([t]))[0]!.result, 'exists');
    assert.equal((await ledger.createTransfers([{ ...t, amount_minor: 1_001 }]))[0]!.result, 'exists_with_different_amount');
    assert.equal((await ledger.createTransfers([{ ...t, code: 101 }]))[0]!.result, 'exists_with_different_code');
    assert.equal((await ledger.createTransfers([{ ...t, flags: 0 }]))[0]!.result, 'exists_with_different_flags');
    assert.equal(
      (await ledger.createTransfers([{ ...t, credit_account_id: company, debit_account_id: payable }]))[0]!.result,
      'exists_with_different_debit_account_id',
    );
    assert.equal((await counters(company)).debits_pending, 1_000);
    await assertInvariants();
  });

  test('a refusal replays as id_already_failed even after credit arrives', async () => {
    const { issuer, company, payable } = await creditLine(100);
    const id = randomUUID();
    const t = {
      id,
      debit_account_id: company,
      credit_account_id: payable,
      amount_minor: 150,
      currency: 'USD' as const,
      code: 100,
      flags: TransferFlags.pending,
    };
    assert.equal((await ledger.createTransfers([t]))[0]!.result, 'exceeds_credits');
    await ledger.createTransfers([
      { id: randomUUID(), debit_account_id: issuer, credit_account_id: company, amount_minor: 1_000, currency: 'USD', code: 1 },
    ]);
    const [retry] = await ledger.createTransfers([t]);
    assert.equal(retry!.result, 'id_already_failed');
    assert.equal(retry!.first_result, 'exceeds_credits');
    assert.equal((await counters(company)).debits_pending, 0);
    await assertInvariants();
  });
});

describe('batches and chains', () => {
  test('a failed unlinked transfer does not fail its neighbours; a failed link fails its chain', async () => {
    const { company, payable } = await creditLine(1_000);
    const base = { debit_account_id: company, credit_account_id: payable, currency: 'USD' as const, code: 100 };
    const results = await ledger.createTransfers([
      { ...base, id: randomUUID(), amount_minor: 100 },
      { ...base, id: randomUUID(), amount_minor: 5_000 },
      { ...base, id: randomUUID(), amount_minor: 200, flags: TransferFlags.linked },
      { ...base, id: randomUUID(), amount_minor: 9_000 },
      { ...base, id: randomUUID(), amount_minor: 300 },
    ]);
    assert.deepEqual(
      results.map((r) => r.result),
      ['created', 'exceeds_credits', 'linked_event_failed', 'exceeds_credits', 'created'],
    );
    assert.equal((await counters(company)).debits_posted, 400);
    await assertInvariants();
  });

  test('a chain left open at the end of the batch applies nothing', async () => {
    const { company, payable } = await creditLine(1_000);
    const base = { debit_account_id: company, credit_account_id: payable, currency: 'USD' as const, code: 100 };
    const results = await ledger.createTransfers([{ ...base, id: randomUUID(), amount_minor: 10, flags: TransferFlags.linked }]);
    assert.deepEqual(
      results.map((r) => r.result),
      ['linked_event_chain_open'],
    );
    assert.equal((await counters(company)).debits_posted, 0);
  });
});

describe('bad input writes nothing', () => {
  test('malformed batches are refused with a clear error', async () => {
    const { company, payable } = await creditLine(1_000);
    const before = await verifyLedger(pool);
    const good = { id: randomUUID(), debit_account_id: company, credit_account_id: payable, amount_minor: 10, currency: 'USD', code: 100 };
    const cases: Array<[unknown[], RegExp]> = [
      [[{ ...good, amount_minor: 10.5 }], /amount_minor: must be an integer/],
      [[{ ...good, currency: 'ZZZ' }], /currency: must be one of/], // ('XXX', no currency, is the spend-limit windows' unit)
      [[{ ...good, id: 'not-a-uuid' }], /id: must be a UUID/],
      [[{ ...good, amount_minor: '10' }], /amount_minor/],
      [[{ ...good, extra: true }], /unrecognized|Unrecognized/],
      [Array.from({ length: 1001 }, () => ({ ...good, id: randomUUID() })), /over the limit of 1000/],
      [[], /empty/],
    ];
    for (const [batch, message] of cases) {
      await assert.rejects(
        ledger.createTransfers(batch as never),
        (err: Error) => err instanceof LedgerInputError && message.test(err.message),
      );
    }
    const results = await ledger.createTransfers([
      { ...good, amount_minor: -5 },
      { ...good, id: randomUUID(), amount_minor: 0 },
      { ...good, id: randomUUID(), credit_account_id: company },
      { ...good, id: randomUUID(), debit_account_id: randomUUID() },
    ] as never);
    assert.deepEqual(
      results.map((r) => r.result),
      ['amount_must_be_positive', 'amount_must_be_positive', 'accounts_must_be_different', 'debit_account_not_found'],
    );
    const afterReport = await verifyLedger(pool);
    assert.equal(afterReport.transfers, before.transfers, 'no transfer was written');
  });

  test('the database refuses to change or delete a transfer', async () => {
    const { company, payable } = await creditLine(1_000);
    const id = randomUUID();
    await ledger.createTransfers([
      { id, debit_account_id: company, credit_account_id: payable, amount_minor: 10, currency: 'USD', code: 100 },
    ]);
    // Even the owner role (the app role has no such grant at all: ledger-privileges.test.ts).
    const owner = new pg.Client({ connectionString: ownerUrl });
    await owner.connect();
    try {
      await assert.rejects(owner.query('UPDATE ledger.transfers SET amount = 1 WHERE id = $1', [id]), /append-only/);
      await assert.rejects(owner.query('DELETE FROM ledger.transfers WHERE id = $1', [id]), /append-only/);
    } finally {
      await owner.end();
    }
  });
});

describe('concurrency', () => {
  test('concurrent holds on one credit line never overdraw it; the hot account stays exact', async () => {
    const { company, payable } = await creditLine(10_000);
    const attempts = 60;
    const results = await Promise.all(
      Array.from({ length: attempts }, () =>
        ledger.createTransfers([
          {
            id: randomUUID(),
            debit_account_id: company,
            credit_account_id: payable,
            amount_minor: 250,
            currency: 'USD',
            code: 100,
            flags: TransferFlags.pending,
          },
        ]),
      ),
    );
    const created = results.filter(([r]) => r!.result === 'created').length;
    const refused = results.filter(([r]) => r!.result === 'exceeds_credits').length;
    assert.equal(created, 40, '10_000 / 250 holds fit');
    assert.equal(refused, attempts - 40);
    assert.equal((await counters(company)).debits_pending, 10_000);
    assert.equal((await counters(payable)).credits_pending, 10_000);
    await assertInvariants();
  });
});
