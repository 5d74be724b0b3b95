// Billing cycles over the real ledger, Temporal and the bank simulator (direct debits confirmed by
// signed callbacks): statements from the ledger, on-time collection that restores the line,
// partial payment, overpayment, a returned debit, dunning (past due, cards frozen, late fee) and
// the unfreeze on payment, and bad input. Cycles are seconds long; every scenario waits on the
// workflow's state (never on wall-clock bounds) and ends with the ledger invariants, statements
// included (invariant 10).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  BillingNotStartedError,
  InvalidBillingError,
  RepaymentConflictError,
  getBilling,
  recordRepayment,
  startBilling,
} from '../../src/api/billing.js';
import type { BillingEventType, BillingPolicyInput, StatementStatus, StatementView } from '../../src/domain/billing.js';
import { TransferCode } from '../../src/domain/ledger.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { billingReceivableAccountId } from '../../src/ledger/ids.js';
import { createStatementStore, type StatementStore } from '../../src/ledger/statements.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startPayout } from '../../src/api/payments.js';
import type { BillingView } from '../../src/workflows/billing-messages.js';
import { createBillingActivities } from '../../src/activities/billing.js';
import { createEventStore, type StoredEvent } from '../../src/events/store.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher } from '../../src/ledger/batcher.js';
import type { StatementEventInput } from '../../src/ledger/statements.js';
import { createHttpSettlementGateway } from '../../src/settlement/gateway.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

const CURRENCY = 'USD';
const LIMIT = 100_000;
/** Short cycles: close after CYCLE_MS, due DUE_MS later, past due GRACE_MS after that. */
const CYCLE_MS = 8_000;
const DUE_MS = 1_500;
const GRACE_MS = 2_500;
/** For scenarios that act after dunning and before the next close. */
const LONG_CYCLE_MS = 25_000;

function policy(extra: Partial<BillingPolicyInput> = {}): BillingPolicyInput {
  return {
    cycle: { kind: 'fixed', length_ms: CYCLE_MS },
    due_after_ms: DUE_MS,
    grace_ms: GRACE_MS,
    cutoff_lag_ms: 200,
    late_fee_minor: 2_500,
    ...extra,
  };
}

describe('billing cycles', () => {
  let h: PaymentsHarness;
  let statements: StatementStore;
  before(async () => {
    h = await startPaymentsHarness('billing', { callbacks: true, simulator: { callback_delay_ms: 100, debit_return_delay_ms: 300 } });
    statements = createStatementStore(h.pool);
  });
  after(async () => {
    await h.close();
  });

  /** A company with a credit line of LIMIT, a card, and `spent_minor` paid out from its line in
   * its first cycle: the cycle starts before the spending and closes CYCLE_MS after it (however
   * long a busy machine took to pay it out). */
  async function company(spent_minor: number, billing: Partial<BillingPolicyInput> = {}, cycle_ms = CYCLE_MS) {
    const company_id = `co-${randomUUID().slice(0, 8)}`;
    const account_id = await openCreditLine(h.ledger, { company_id, currency: CURRENCY, limit_minor: LIMIT, grant_key: 'initial' });
    await h.cards.issue({ card_id: `${company_id}-card`, company_id, currency: CURRENCY, account_id });
    const start_ms = Date.now() - 1_000;
    if (spent_minor > 0) {
      const { handle } = await startPayout(
        h.client,
        {
          payment_id: `${company_id}-spend`,
          company_id,
          account_id,
          amount_minor: spent_minor,
          currency: CURRENCY,
          payee: { name: 'Supplier Ltd', bank_account: 'GB29NWBK60161331926819' },
        },
        h.task_queue,
      );
      assert.equal((await handle.result()).status, 'SETTLED');
    }
    const length_ms = Date.now() - start_ms + cycle_ms;
    const { started } = await startBilling(
      h.client,
      {
        company_id,
        currency: CURRENCY,
        policy: policy({ cycle: { kind: 'fixed', length_ms }, ...billing }),
        billing_start: new Date(start_ms).toISOString(),
      },
      h.task_queue,
    );
    assert.equal(started, true);
    return { company_id, account_id, cycle_ms: length_ms };
  }

  async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeout_ms = 60_000): Promise<T> {
    const deadline = Date.now() + timeout_ms;
    for (;;) {
      const value = await read();
      if (ok(value)) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: last ${JSON.stringify(value).slice(0, 600)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const view = (company_id: string) => getBilling(h.client, company_id, CURRENCY);
  const statement = async (company_id: string, cycle_number = 1) => statements.get({ company_id, currency: CURRENCY, cycle_number });
  const statusOf = async (company_id: string, status: StatementStatus): Promise<StatementView> =>
    (await until(
      `statement of ${company_id} ${status}`,
      () => statement(company_id),
      (s) => s?.status === status,
    ))!;
  const available = async (account_id: string) => (await h.ledger.getBalance(account_id))!.available;
  const cardStatus = async (company_id: string) => (await h.cards.get(`${company_id}-card`))!.status;
  const types = (s: StatementView) => s.events.map((e) => e.type);
  /** The events `wanted`, in this order, among the statement's (a busy machine may interleave others). */
  const inOrder = (s: StatementView, wanted: BillingEventType[]) => {
    const t = types(s);
    const at = wanted.map((w) => t.indexOf(w));
    assert.ok(
      at.every((i, n) => i >= 0 && (n === 0 || i > at[n - 1]!)),
      `${wanted.join(' < ')} in ${t.join(', ')}`,
    );
  };
  const hasEvents = (company_id: string, wanted: BillingEventType[]) =>
    until(
      `${wanted.join(', ')} of ${company_id}`,
      () => statement(company_id),
      (s) => s !== null && wanted.every((w) => types(s).includes(w)),
    );

  /** The statement's events in the event store (issue 16), once they are as many as the events
   * billing recorded for it: exactly one per recorded event, in its order, each the statement (as
   * GetStatement returns it) of its company. */
  async function assertStatementEvents(company_id: string, cycle_number = 1): Promise<StoredEvent[]> {
    const store = createEventStore(h.pool);
    const recorded = types((await statement(company_id, cycle_number))!);
    const statement_id = `${company_id}/${CURRENCY}/${cycle_number}`;
    const page = await until(
      `${recorded.length} events of ${statement_id}`,
      () => store.listEvents({ company_ids: [company_id], object_id: statement_id }, { limit: 100 }),
      (p) => p.events.length >= recorded.length,
    );
    assert.deepEqual(
      page.events.map((e) => e.type),
      recorded,
    );
    for (const e of page.events) {
      assert.deepEqual([e.company_id, e.object_type, e.object_id], [company_id, 'statement', statement_id]);
      assert.deepEqual([e.object.statementId, e.object.companyId, e.object.cycleNumber], [statement_id, company_id, cycle_number]);
      assert.equal(e.object.events, undefined, 'events do not carry the statement events list');
    }
    return page.events;
  }

  async function assertInvariants() {
    const report = await verifyLedger(h.pool);
    assert.deepEqual(report.violations, []);
    assert.ok((report.checks.find((c) => c.check === 'statements')?.checked ?? 0) >= 1, 'statements were checked');
  }

  test('on-time payment: the statement comes from the ledger, the direct debit collects it and restores the line', async () => {
    const co = await company(20_000, {
      grace_ms: 5_000,
      direct_debit: { debtor_name: 'Acme Ltd', bank_account: 'GB33BUKB20201555555555' },
    });
    assert.equal(await available(co.account_id), BigInt(LIMIT - 20_000));
    const paid = await statusOf(co.company_id, 'PAID');
    assert.equal(paid.opening_balance_minor, 0);
    assert.equal(paid.payouts_minor, 20_000);
    assert.equal(paid.closing_balance_minor, 20_000);
    assert.equal(paid.minimum_due_minor, 20_000);
    assert.equal(paid.paid_minor, 20_000);
    inOrder(paid, [
      'statement.closed',
      'statement.debit_requested',
      'statement.debit_collected',
      'statement.payment_received',
      'statement.paid',
    ]);
    assert.equal(await available(co.account_id), BigInt(LIMIT), 'the line is restored');
    const debit = h.simulator.debits.get(`debit:${co.company_id}/${CURRENCY}/1`);
    assert.equal(debit?.amount_minor, 20_000, 'the bank collected the statement balance once');
    assert.equal(await cardStatus(co.company_id), 'active');
    // The next statement opens with nothing owed: the repayment is in the window after the close.
    const second = await until(
      'statement 2',
      () => statement(co.company_id, 2),
      (s) => s !== null,
      co.cycle_ms * 3,
    );
    assert.equal(second!.opening_balance_minor, 20_000);
    assert.equal(second!.repayments_minor, 20_000);
    assert.equal(second!.closing_balance_minor, 0);
    assert.equal(
      (await until(
        'statement 2 paid',
        () => statement(co.company_id, 2),
        (s) => s?.status === 'PAID',
      ))!.minimum_due_minor,
      0,
    );
    await assertInvariants();
  });

  test('partial payment: at least the minimum by the grace period is no dunning; the rest stays owed', async () => {
    const co = await company(40_000, { minimum_due_percent: 10, minimum_due_floor_minor: 1_000 });
    const open = await statusOf(co.company_id, 'OPEN');
    assert.equal(open.closing_balance_minor, 40_000);
    assert.equal(open.minimum_due_minor, 4_000);
    const receipt = await recordRepayment(h.client, co.company_id, CURRENCY, { idempotency_key: 'part-1', amount_minor: 5_000 });
    assert.equal(receipt.created, true);
    assert.deepEqual(receipt.statement, { statement_id: `${co.company_id}/${CURRENCY}/1`, status: 'MINIMUM_PAID', paid_minor: 5_000 });
    // Through the grace period: minimum paid, no freeze, no fee.
    await until(
      'the grace period to end',
      () => view(co.company_id),
      (v: BillingView) => v.lifecycle.grace_over || v.cycle_number > 1,
    );
    const s = (await statement(co.company_id))!;
    assert.equal(s.status, 'MINIMUM_PAID');
    assert.ok(!types(s).includes('statement.past_due'));
    assert.equal(await cardStatus(co.company_id), 'active');
    assert.equal(await available(co.account_id), BigInt(LIMIT - 40_000 + 5_000));
    await assertInvariants();
  });

  test('overpayment leaves credit; the same key is recorded once; the same key with another amount is refused', async () => {
    const co = await company(20_000);
    await statusOf(co.company_id, 'OPEN');
    const first = await recordRepayment(h.client, co.company_id, CURRENCY, { idempotency_key: 'wire-77', amount_minor: 30_000 });
    assert.equal(first.created, true);
    assert.equal(first.statement?.status, 'PAID');
    const again = await recordRepayment(h.client, co.company_id, CURRENCY, { idempotency_key: 'wire-77', amount_minor: 30_000 });
    assert.equal(again.created, false);
    assert.equal(again.transfer_id, first.transfer_id);
    await assert.rejects(
      recordRepayment(h.client, co.company_id, CURRENCY, { idempotency_key: 'wire-77', amount_minor: 31_000 }),
      RepaymentConflictError,
    );
    assert.equal(await available(co.account_id), BigInt(LIMIT + 10_000), 'the 10000 paid over stays as credit');
    const repayments = (await h.ledger.listTransfers({ account_id: co.account_id }, { limit: 100 })).transfers.filter(
      (t) => t.code === TransferCode.billing_repayment,
    );
    assert.deepEqual(
      repayments.map((t) => t.amount_minor),
      [30_000],
      'one repayment transfer',
    );
    const s = await statusOf(co.company_id, 'PAID');
    assert.equal(s.paid_minor, 30_000);
    await assertInvariants();
  });

  test('returned debit: the restore is reversed, the statement goes past due, cards frozen, late fee; paying unfreezes', async () => {
    // A longer cycle: the test pays within the first one, after dunning, however slow the machine.
    const co = await company(25_000, { direct_debit: { debtor_name: 'Shaky Ltd', bank_account: 'RETURN0001' } }, LONG_CYCLE_MS);
    await hasEvents(co.company_id, ['statement.debit_returned', 'statement.late_fee_charged', 'statement.cards_frozen']);
    const past = await statusOf(co.company_id, 'PAST_DUE');
    inOrder(past, ['statement.closed', 'statement.debit_requested', 'statement.debit_collected', 'statement.debit_returned']);
    inOrder(past, ['statement.debit_collected', 'statement.paid']);
    assert.equal(types(past).filter((t) => t === 'statement.late_fee_charged').length, 1, 'one late fee');
    assert.equal(past.paid_minor, 0);
    assert.equal(h.simulator.debits.get(`debit:${co.company_id}/${CURRENCY}/1`)?.returned, true);
    await until(
      'cards frozen',
      () => cardStatus(co.company_id),
      (s) => s === 'frozen',
    );
    // Collected 25000 then returned 25000, late fee 2500: the line is short by 27500.
    await until(
      'the late fee',
      () => available(co.account_id),
      (a) => a === BigInt(LIMIT - 27_500),
    );
    const receipt = await recordRepayment(h.client, co.company_id, CURRENCY, { idempotency_key: 'after-return', amount_minor: 25_000 });
    assert.equal(receipt.statement?.status, 'PAID');
    await until(
      'cards unfrozen',
      () => cardStatus(co.company_id),
      (s) => s === 'active',
    );
    await assertInvariants();
  });

  test('dunning: unpaid after the grace period -> reminder, past due, cards frozen, late fee; paid -> unfrozen', async () => {
    const co = await company(10_000, {}, LONG_CYCLE_MS);
    // A card people froze themselves stays frozen when dunning unfreezes the rest.
    await h.cards.issue({ card_id: `${co.company_id}-kept`, company_id: co.company_id, currency: CURRENCY, account_id: co.account_id });
    await h.cards.setStatus(`${co.company_id}-kept`, 'frozen');
    await hasEvents(co.company_id, ['statement.late_fee_charged']);
    const past = await statusOf(co.company_id, 'PAST_DUE');
    assert.deepEqual(types((await statement(co.company_id))!), [
      'statement.closed',
      'statement.grace_ended',
      'statement.reminder',
      'statement.past_due',
      'statement.cards_frozen',
      'statement.late_fee_charged',
    ]);
    assert.equal(past.minimum_due_minor, 10_000);
    assert.equal(await cardStatus(co.company_id), 'frozen');
    // Each statement change is an event with the statement after it.
    const dunned = await assertStatementEvents(co.company_id);
    const at = (type: string) => dunned.find((e) => e.type === type)!.object;
    assert.deepEqual([at('statement.closed').closingBalanceMinor, at('statement.closed').status], ['10000', 'STATEMENT_STATUS_OPEN']);
    assert.equal(at('statement.past_due').status, 'STATEMENT_STATUS_PAST_DUE');
    const billing = await view(co.company_id);
    assert.equal(billing.lifecycle.frozen, true);
    // A late fee that fits the line is charged on it.
    await until(
      'the late fee on the line',
      () => available(co.account_id),
      (a) => a === BigInt(LIMIT - 12_500),
    );
    const receipt = await recordRepayment(h.client, co.company_id, CURRENCY, { idempotency_key: 'catch-up', amount_minor: 10_000 });
    assert.equal(receipt.statement?.status, 'PAID');
    const paid = await statusOf(co.company_id, 'PAID');
    assert.deepEqual(types(paid).slice(-3), ['statement.payment_received', 'statement.paid', 'statement.cards_unfrozen']);
    await until(
      'cards unfrozen',
      () => cardStatus(co.company_id),
      (s) => s === 'active',
    );
    assert.equal((await h.cards.get(`${co.company_id}-kept`))!.status, 'frozen', 'a card frozen by people stays frozen');
    const paidEvents = await assertStatementEvents(co.company_id);
    const paidEvent = paidEvents.find((e) => e.type === 'statement.paid')!;
    assert.deepEqual([paidEvent.object.status, paidEvent.object.paidMinor], ['STATEMENT_STATUS_PAID', '10000']);
    // The step again, as Temporal retries it after a worker lost its answer: recorded and emitted once.
    const { rows } = await h.pool.query<Omit<StatementEventInput, 'company_id' | 'currency' | 'cycle_number'>>(
      `SELECT event_key, type, status, paid_minor::int AS paid_minor, detail FROM billing.statement_events
        WHERE company_id = $1 AND currency = $2 AND cycle_number = 1 AND type = 'statement.past_due'`,
      [co.company_id, CURRENCY],
    );
    assert.equal(rows.length, 1);
    const postings = createTransferBatcher(h.ledger, DEFAULT_BATCHER_OPTIONS);
    try {
      const steps = createBillingActivities({
        ledger: h.ledger,
        postings,
        cards: h.cards,
        statements,
        gateway: createHttpSettlementGateway(h.simulator.url, { request_timeout_ms: 5_000 }),
        events: createEventStore(h.pool),
      });
      assert.deepEqual(await steps.recordStatementEvent({ company_id: co.company_id, currency: CURRENCY, cycle_number: 1, ...rows[0]! }), {
        recorded: false,
      });
    } finally {
      await postings.close();
    }
    const again = await assertStatementEvents(co.company_id);
    assert.deepEqual(
      again.map((e) => [e.event_id, e.object]),
      paidEvents.map((e) => [e.event_id, e.object]),
      'no second event, the first unchanged',
    );
    // The fee is in the next statement.
    const second = await until(
      'statement 2',
      () => statement(co.company_id, 2),
      (s) => s !== null,
      co.cycle_ms * 3,
    );
    assert.equal(second!.fees_minor, 2_500);
    assert.equal(second!.closing_balance_minor, 2_500);
    await assertInvariants();
  });

  test('a late fee the line cannot take goes to the company billing receivable, and the statement still adds up', async () => {
    const co = await company(LIMIT);
    const receivable = await until(
      'the late fee on the receivable',
      () => h.ledger.getBalance(billingReceivableAccountId(co.company_id, CURRENCY)),
      (b) => b?.debits_posted === 2_500n,
    );
    assert.equal(receivable?.credits_posted, 0n);
    assert.equal(await available(co.account_id), 0n);
    const second = await until(
      'statement 2',
      () => statement(co.company_id, 2),
      (s) => s !== null,
      co.cycle_ms * 3,
    );
    assert.equal(second!.closing_balance_minor, LIMIT + 2_500);
    await assertInvariants();
  });

  test('bad input is refused with the field named, and writes nothing', async () => {
    const co = await company(0);
    for (const [input, field] of [
      [{ idempotency_key: 'k1', amount_minor: 0 }, 'amount_minor'],
      [{ idempotency_key: 'k1', amount_minor: 1.5 }, 'amount_minor'],
      [{ idempotency_key: 'has space', amount_minor: 100 }, 'idempotency_key'],
      [{ idempotency_key: 'k1', amount_minor: 100, extra: 1 }, ''],
    ] as const) {
      await assert.rejects(recordRepayment(h.client, co.company_id, CURRENCY, input as never), (err: Error) => {
        assert.ok(err instanceof InvalidBillingError, String(err));
        assert.match(err.message, new RegExp(field));
        return true;
      });
    }
    await assert.rejects(recordRepayment(h.client, 'nobody', CURRENCY, { idempotency_key: 'k', amount_minor: 1 }), BillingNotStartedError);
    await assert.rejects(
      startBilling(
        h.client,
        {
          company_id: co.company_id,
          currency: CURRENCY,
          policy: policy({ due_after_ms: CYCLE_MS }),
          billing_start: new Date().toISOString(),
        },
        h.task_queue,
      ),
      /due_after_ms/,
    );
    await assert.rejects(
      startBilling(
        h.client,
        { company_id: co.company_id, currency: 'XXX' as never, policy: policy(), billing_start: new Date().toISOString() },
        h.task_queue,
      ),
      /currency/,
    );
    assert.deepEqual(
      (await h.ledger.listTransfers({ account_id: co.account_id }, { limit: 10 })).transfers.map((t) => t.code),
      [TransferCode.credit_line_grant],
    );
    // Statements are evidence: the database refuses to change one, even to its owner.
    await statusOf(co.company_id, 'PAID');
    const owner = new pg.Client({ connectionString: h.ownerUrl });
    await owner.connect();
    try {
      await assert.rejects(
        owner.query(`UPDATE billing.statements SET closing_balance_minor = 1 WHERE company_id = $1`, [co.company_id]),
        /append-only/,
      );
      await assert.rejects(owner.query(`DELETE FROM billing.statement_events WHERE company_id = $1`, [co.company_id]), /append-only/);
    } finally {
      await owner.end();
    }
    await assertInvariants();
  });
});
