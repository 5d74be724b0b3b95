// Paging by commit order: a batch that started before a page was served and committed after it
// must show up on a later page, never fall behind the cursor.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { AccountCode, AccountFlags } from '../../src/domain/ledger.js';
import type { Pool } from '../../src/ledger/db.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase } from '../support/env.js';

let pool: Pool;
let ledger: Ledger;

before(async () => {
  ({ pool } = await freshDatabase('ledger_paging'));
  ledger = createLedger(pool);
});
after(async () => {
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, [], 'ledger invariants after the whole file');
  await pool.end();
});

describe('ListTransfers pages in commit order', () => {
  test('a batch committing after a page was served is on a later page', async () => {
    const issuer = randomUUID();
    const [lineA, lineB] = [randomUUID(), randomUUID()];
    await ledger.createAccounts([
      { id: issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
      { id: lineA, currency: 'USD', code: AccountCode.company_credit_line, flags: AccountFlags.debits_must_not_exceed_credits },
      { id: lineB, currency: 'USD', code: AccountCode.company_credit_line, flags: AccountFlags.debits_must_not_exceed_credits },
    ]);
    const payment_id = `paging-${randomUUID()}`;
    const grant = (id: string, line: string) => ({
      id,
      debit_account_id: issuer,
      credit_account_id: line,
      amount_minor: 10,
      currency: 'USD' as const,
      code: 1,
      payment_id,
    });
    const first = randomUUID();
    await ledger.createTransfers([grant(first, lineA)]);

    // Batch A takes its locks, then stalls before writing; batch B starts and commits meanwhile.
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let paused!: () => void;
    const isPaused = new Promise<void>((r) => (paused = r));
    let stalls = 0;
    const slow = createLedger(pool, {
      betweenRoundTrips: async () => {
        stalls += 1;
        if (stalls > 1) return;
        paused();
        await resumed;
      },
    });
    const a = randomUUID();
    const aDone = slow.createTransfers([grant(a, lineA)]);
    await isPaused;
    const b = randomUUID();
    await ledger.createTransfers([grant(b, lineB)]);

    const page1 = await ledger.listTransfers({ payment_id }, { limit: 2 });
    resume();
    await aDone;
    const seen = page1.transfers.map((t) => t.id);
    let after = page1.next;
    for (let pages = 0; after !== undefined && pages < 10; pages += 1) {
      const page = await ledger.listTransfers({ payment_id }, { limit: 2, after });
      seen.push(...page.transfers.map((t) => t.id));
      after = page.next;
    }
    assert.deepEqual(new Set(seen), new Set([first, a, b]), 'every transfer is served once, none skipped');
    assert.equal(seen.length, 3, 'none served twice');
    assert.equal(seen.indexOf(a) < seen.indexOf(b), true, 'A took its transaction id first: it comes first');
  });
});
