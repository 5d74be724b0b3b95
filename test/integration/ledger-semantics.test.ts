// TigerBeetle's semantics to the letter: a void's amount, ids either created or refused (never
// both), no pending timeouts the engine would not enforce, closing an account, overflow of hot
// (bucketed) accounts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AccountCode, AccountFlags, TransferFlags } from '../../src/domain/ledger.js';
import { AMOUNT_MINOR_MAX } from '../../src/domain/money.js';
import type { Pool } from '../../src/ledger/db.js';
import { LedgerInputError, createLedger, type Ledger, type TransferInput } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase } from '../support/env.js';

let pool: Pool;
let ownerUrl: string;
let ledger: Ledger;

before(async () => {
  ({ pool, ownerUrl } = await freshDatabase('ledger_semantics'));
  ledger = createLedger(pool);
});
after(async () => {
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, [], 'ledger invariants after the whole file');
  await pool.end();
});

async function creditLine(limit: number) {
  const issuer = randomUUID();
  const company = randomUUID();
  const payable = randomUUID();
  await ledger.createAccounts([
    { id: issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
    { id: company, currency: 'USD', code: AccountCode.company_credit_line, flags: AccountFlags.debits_must_not_exceed_credits },
    { id: payable, currency: 'USD', code: AccountCode.payouts_payable },
  ]);
  const [grant] = await ledger.createTransfers([
    { id: randomUUID(), debit_account_id: issuer, credit_account_id: company, amount_minor: limit, currency: 'USD', code: 1 },
  ]);
  assert.equal(grant!.result, 'created');
  return { issuer, company, payable };
}

const holdOf = (company: string, payable: string, amount_minor: number): TransferInput => ({
  id: randomUUID(),
  debit_account_id: company,
  credit_account_id: payable,
  amount_minor,
  currency: 'USD',
  code: 100,
  flags: TransferFlags.pending,
});

describe('voids', () => {
  test('a void names amount 0 or exactly the pending amount; anything else is refused', async () => {
    const { company, payable } = await creditLine(1_000);
    const hold = holdOf(company, payable, 100);
    assert.equal((await ledger.createTransfers([hold]))[0]!.result, 'created');
    const voidOf = (amount_minor?: number): TransferInput => ({
      id: randomUUID(),
      pending_id: hold.id,
      code: 102,
      flags: TransferFlags.void_pending,
      ...(amount_minor === undefined ? {} : { amount_minor }),
    });
    for (const amount of [1, 99]) {
      assert.equal(
        (await ledger.createTransfers([voidOf(amount)]))[0]!.result,
        'pending_transfer_has_different_amount',
        `amount ${amount}`,
      );
    }
    const zero = voidOf(0);
    const [voided] = await ledger.createTransfers([zero]);
    assert.equal(voided!.result, 'created');
    assert.equal(voided!.transfer!.amount_minor, 100, 'a void releases the whole pending amount');
    assert.equal((await ledger.createTransfers([zero]))[0]!.result, 'exists', 'its retry, amount 0 again');

    const second = holdOf(company, payable, 40);
    await ledger.createTransfers([second]);
    const exact = { id: randomUUID(), pending_id: second.id, code: 102, flags: TransferFlags.void_pending, amount_minor: 40 };
    assert.equal((await ledger.createTransfers([exact]))[0]!.result, 'created');
    const [account] = await ledger.getAccounts([company]);
    assert.equal(account!.debits_pending, 0n);
  });
});

describe('ids are created or refused, never both', () => {
  test('the database refuses a refusal for a created id and a transfer for a refused id', async () => {
    const { company, payable } = await creditLine(10);
    const created = holdOf(company, payable, 5);
    const refused = holdOf(company, payable, 50);
    const outcomes = await ledger.createTransfers([created, refused]);
    assert.deepEqual(
      outcomes.map((o) => o.result),
      ['created', 'exceeds_credits'],
    );
    // Even the owner role, bypassing the engine, cannot record one id both ways.
    const admin = new pg.Client({ connectionString: ownerUrl });
    await admin.connect();
    try {
      await assert.rejects(
        admin.query(`INSERT INTO ledger.transfer_failures (id, result) VALUES ($1, 'exceeds_credits')`, [created.id]),
        /transfer_ids|duplicate key/,
      );
      await assert.rejects(
        admin.query(
          `INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, currency, code) VALUES ($1, $2, $3, 1, 'USD', 1)`,
          [refused.id, company, payable],
        ),
        /transfer_ids|duplicate key/,
      );
    } finally {
      await admin.end();
    }
  });
});

describe('pending timeouts', () => {
  test('timeout_s is not part of a transfer: the engine does not expire holds (sagas do, with durable timers)', async () => {
    const { company, payable } = await creditLine(100);
    await assert.rejects(
      ledger.createTransfers([{ ...holdOf(company, payable, 5), timeout_s: 60 } as TransferInput]),
      (err: Error) => err instanceof LedgerInputError && /timeout_s/.test(err.message),
    );
  });
});

describe('closing an account', () => {
  test('a closed credit line refuses new holds and posts; its holds can still be released', async () => {
    const { company, payable } = await creditLine(1_000);
    const hold = holdOf(company, payable, 300);
    const other = holdOf(company, payable, 200);
    await ledger.createTransfers([hold, other]);
    assert.equal(await ledger.closeAccount(company), 'closed');
    assert.equal(await ledger.closeAccount(company), 'already_closed');
    const [account] = await ledger.getAccounts([company]);
    assert.equal(account!.flags & AccountFlags.closed, AccountFlags.closed);

    assert.equal((await ledger.createTransfers([holdOf(company, payable, 1)]))[0]!.result, 'account_closed');
    const post = { id: randomUUID(), pending_id: other.id, code: 101, flags: TransferFlags.post_pending };
    assert.equal((await ledger.createTransfers([post]))[0]!.result, 'account_closed');
    const release = { id: randomUUID(), pending_id: hold.id, code: 102, flags: TransferFlags.void_pending };
    assert.equal((await ledger.createTransfers([release]))[0]!.result, 'created');
    const [after] = await ledger.getAccounts([company]);
    assert.equal(after!.debits_pending, 200n, 'the released hold is gone; the other is still held');
  });

  test('only accounts with limit flags can be closed; an unknown account is not found', async () => {
    const { payable } = await creditLine(10);
    assert.equal(await ledger.closeAccount(payable), 'account_not_closable');
    assert.equal(await ledger.closeAccount(randomUUID()), 'account_not_found');
  });
});

describe('hot accounts', () => {
  test('a bucketed account refuses overflow like any other', async () => {
    const source = randomUUID();
    const sink = randomUUID();
    await ledger.createAccounts([
      { id: source, currency: 'USD', code: AccountCode.credit_line_issuance },
      { id: sink, currency: 'USD', code: AccountCode.settlement_bank },
    ]);
    const counterMax = 9_223_372_036_854_775_807n;
    const fits = Number(counterMax / BigInt(AMOUNT_MINOR_MAX));
    const transfer = (): TransferInput => ({
      id: randomUUID(),
      debit_account_id: source,
      credit_account_id: sink,
      amount_minor: AMOUNT_MINOR_MAX,
      currency: 'USD',
      code: 1,
    });
    for (let done = 0; done < fits; done += 1000) {
      const batch = Array.from({ length: Math.min(1000, fits - done) }, transfer);
      const outcomes = await ledger.createTransfers(batch);
      assert.ok(outcomes.every((o) => o.result === 'created'));
    }
    const [over] = await ledger.createTransfers([transfer()]);
    assert.equal(over!.result, 'overflows');
    const [sinkAccount] = await ledger.getAccounts([sink]);
    assert.equal(sinkAccount!.credits_posted, BigInt(fits) * BigInt(AMOUNT_MINOR_MAX));
  });
});
