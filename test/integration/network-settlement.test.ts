// Net settlement with the card network, end to end: real card payments (authorize + clear, and
// refunds) post to network payable; the simulator plays the network and keeps its own records;
// the settlement workflow nets a cycle, wires what the network reports and reconciles. Each
// scenario uses its own currency, so each has its own chain of cycles; the verifier runs after
// every one.
//
// Cycle ends are taken from the database clock between postings (a millisecond past its current
// time, then a pause), so no posting can fall on a boundary however slow the machine is.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { authorizeCardPayment, clearCardPayment, refundCardPayment } from '../../src/api/card-payments.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment } from '../../src/domain/card.js';
import { TransferCode } from '../../src/domain/ledger.js';
import type { Currency } from '../../src/domain/money.js';
import { DAY_MS, type NetworkSettlementInput, type NetworkSettlementState } from '../../src/domain/network-settlement.js';
import { NeedsAttentionKey } from '../../src/domain/search-attributes.js';
import { networkChargebackTransferId, networkWireTransferId } from '../../src/activities/network-settlement.js';
import { openDispute } from '../../src/api/disputes.js';
import { getPayment } from '../../src/api/payments.js';
import { disputeWorkflowId } from '../../src/domain/dispute.js';
import { networkResponseUpdate } from '../../src/workflows/dispute-messages.js';
import { openCreditLine, platformAccount } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { createHttpCardNetwork, type CardNetwork } from '../../src/settlement/network-client.js';
import { ensureNetworkSettlementSchedule } from '../../src/workers/network-settlement-schedule.js';
import { getNetworkSettlementQuery } from '../../src/workflows/network-settlement-messages.js';
import type { networkSettlementWorkflow } from '../../src/workflows/network-settlement.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

let h: PaymentsHarness;
let network: CardNetwork;

before(async () => {
  h = await startPaymentsHarness('network-settlement');
  network = createHttpCardNetwork(h.simulator.url);
});
after(async () => {
  await h.close();
});
afterEach(async () => {
  const report = await verifyLedger(h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
});

/** Short, so a test waits little for a cycle to be due; the rules are the same as in production. */
const LAG_MS = 200;

async function cardholder(currency: Currency) {
  const company_id = `co-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency, limit_minor: 1_000_000, grant_key: 'initial' });
  const card = await h.cards.issue({
    card_id: `card-${randomUUID().slice(0, 8)}`,
    company_id,
    currency,
    account_id,
    transaction_limit_minor: null,
    blocked_mccs: [],
  });
  return { account_id, card_id: card.card_id, currency };
}

const opts = () => ({ task_queue: h.task_queue, workflow: { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 } });

/** A purchase the network authorized and cleared: posted in our ledger, recorded at the network. */
async function purchase(c: { card_id: string; currency: Currency }, amount_minor: number): Promise<CardPayment> {
  const payment: CardPayment = {
    payment_id: `txn-${randomUUID()}`,
    card_id: c.card_id,
    currency: c.currency,
    merchant: { mcc: '5411', name: 'Corner Grocery' },
  };
  const decision = await authorizeCardPayment(h.client, payment, { amount_minor, deadline_at_ms: Date.now() + 10_000 }, opts());
  assert.equal(decision.approved, true);
  const cleared = await clearCardPayment(h.client, payment, { event_id: 'clr-1', amount_minor }, opts());
  assert.equal(cleared.posted_minor, amount_minor);
  await network.record([
    { record_id: `${payment.payment_id}:clr-1`, kind: 'clearing', currency: c.currency, amount_minor, at: new Date().toISOString() },
  ]);
  return payment;
}

async function refund(payment: CardPayment, amount_minor: number): Promise<void> {
  await refundCardPayment(h.client, payment, { event_id: 'rfd-1', amount_minor }, opts());
  await network.record([
    { record_id: `${payment.payment_id}:rfd-1`, kind: 'refund', currency: payment.currency, amount_minor, at: new Date().toISOString() },
  ]);
}

/** A cycle end strictly after every transfer committed so far and before any that follows, then
 * the lag, so the cycle is due when the workflow starts. */
async function cycleEnd(): Promise<string> {
  const { rows } = await h.pool.query<{ end_at: Date }>(
    `SELECT date_trunc('milliseconds', clock_timestamp()) + interval '1 millisecond' AS end_at`,
  );
  await new Promise((r) => setTimeout(r, LAG_MS + 50));
  return rows[0]!.end_at.toISOString();
}

function settle(input: NetworkSettlementInput, workflowId = `network-settlement-test-${randomUUID()}`) {
  return h.client.workflow.start<typeof networkSettlementWorkflow>('networkSettlementWorkflow', {
    taskQueue: h.task_queue,
    workflowId,
    args: [{ lag_ms: LAG_MS, ...input }],
  });
}

async function settled(input: NetworkSettlementInput): Promise<NetworkSettlementState> {
  return (await settle(input)).result();
}

async function posted(kind: 'network_payable' | 'settlement_bank' | 'chargeback_receivable', currency: Currency) {
  const b = await h.ledger.getBalance(platformAccount(kind, currency));
  assert.ok(b, `${kind} ${currency} exists`);
  return { debits_posted: Number(b.debits_posted), credits_posted: Number(b.credits_posted) };
}

async function storedCycles(currency: Currency): Promise<number> {
  const { rows } = await h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM settlement.network_cycles WHERE currency = $1', [
    currency,
  ]);
  return rows[0]!.n;
}

async function wires(currency: Currency): Promise<number> {
  const { rows } = await h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger.transfers WHERE currency = $1 AND code = $2', [
    currency,
    TransferCode.network_settlement,
  ]);
  return rows[0]!.n;
}

describe('a cycle', () => {
  test('matched: nets clearings minus refunds, wires the net to the settlement bank, payable closes', async () => {
    const c = await cardholder('EUR');
    const first = await purchase(c, 2_500);
    await purchase(c, 1_000);
    await refund(first, 300);
    const end = await cycleEnd();

    const state = await settled({ cycle_end: end, currencies: ['EUR'] });
    assert.equal(state.status, 'MATCHED');
    assert.equal(state.needs_attention, false);
    const cycle = state.cycles[0]!.cycle!;
    assert.deepEqual(
      {
        window_start: cycle.window_start,
        window_end: cycle.window_end,
        cleared: cycle.cleared_minor,
        refunded: cycle.refunded_minor,
        net: cycle.net_minor,
        transfers: cycle.transfers,
        reported: cycle.reported_minor,
        difference: cycle.difference_minor,
        wired: cycle.wired_minor,
        status: cycle.status,
      },
      {
        window_start: new Date(0).toISOString(),
        window_end: end,
        cleared: 3_500,
        refunded: 300,
        net: 3_200,
        transfers: 3,
        reported: 3_200,
        difference: 0,
        wired: 3_200,
        status: 'matched',
      },
    );
    assert.equal(cycle.wire_transfer_id, networkWireTransferId({ cycle_id: state.cycle_id, currency: 'EUR' }));
    const [wire] = await h.ledger.getTransfers([cycle.wire_transfer_id!]);
    assert.equal(wire?.amount_minor, 3_200);
    assert.equal(wire?.debit_account_id, platformAccount('network_payable', 'EUR'));
    assert.equal(wire?.credit_account_id, platformAccount('settlement_bank', 'EUR'));
    // Everything the network cleared minus what it refunded left with the wire: nothing is open.
    assert.deepEqual(await posted('network_payable', 'EUR'), { debits_posted: 3_500, credits_posted: 3_500 });
    assert.deepEqual(await posted('settlement_bank', 'EUR'), { debits_posted: 0, credits_posted: 3_200 });
  });

  test('mismatched: a short wire raises attention, the payable keeps the difference, nothing is rolled back', async () => {
    const c = await cardholder('GBP');
    await purchase(c, 4_000);
    const end = await cycleEnd();
    await network.injectDiscrepancy({ currency: 'GBP', window_end: end, delta_minor: -500 });

    const handle = await settle({ cycle_end: end, currencies: ['GBP'] });
    const state = await handle.result();
    assert.equal(state.status, 'MISMATCHED');
    assert.equal(state.needs_attention, true);
    const cycle = state.cycles[0]!.cycle!;
    assert.deepEqual(
      [cycle.net_minor, cycle.reported_minor, cycle.difference_minor, cycle.wired_minor, cycle.status],
      [4_000, 3_500, -500, 3_500, 'mismatched'],
    );
    assert.ok(state.timeline.some((e) => e.event === 'cycle_mismatched' && e.detail?.includes('-5.00 GBP stays open')));
    // Ops see it: the search attribute and the query.
    const described = await handle.describe();
    assert.equal(described.typedSearchAttributes.get(NeedsAttentionKey), true);
    const queried = await handle.query(getNetworkSettlementQuery);
    assert.equal(queried.cycles[0]!.cycle!.difference_minor, -500);
    // The network settled 35.00; 5.00 of what it cleared stays owed on network payable. The
    // company's charge and the clearing stand.
    assert.deepEqual(await posted('network_payable', 'GBP'), { debits_posted: 3_500, credits_posted: 4_000 });
    assert.deepEqual(await posted('settlement_bank', 'GBP'), { debits_posted: 0, credits_posted: 3_500 });
    const company = await h.ledger.getBalance(c.account_id);
    assert.equal(company?.debits_posted, 4_000n);
  });

  test('a refund-heavy cycle: the network owes us, the wire goes the other way', async () => {
    const c = await cardholder('SGD');
    const p = await purchase(c, 1_000);
    const first = await cycleEnd();
    assert.equal((await settled({ cycle_end: first, currencies: ['SGD'] })).status, 'MATCHED');
    await new Promise((r) => setTimeout(r, 10));
    await refund(p, 800);
    const second = await cycleEnd();
    const state = await settled({ cycle_end: second, currencies: ['SGD'] });
    assert.equal(state.status, 'MATCHED');
    const cycle = state.cycles[0]!.cycle!;
    assert.deepEqual([cycle.net_minor, cycle.wired_minor], [-800, -800]);
    const [wire] = await h.ledger.getTransfers([cycle.wire_transfer_id!]);
    assert.equal(wire?.debit_account_id, platformAccount('settlement_bank', 'SGD'));
    assert.deepEqual(await posted('network_payable', 'SGD'), { debits_posted: 1_800, credits_posted: 1_800 });
  });
});

describe('won chargebacks', () => {
  // SGD's chain goes on after 'a refund-heavy cycle' (every currency has its test; AUD is the
  // schedule's, on the daily grid): balances are compared with what that test left.
  test('the network pays a won dispute in the cycle of the win, once: receivable and payable close', async () => {
    const c = await cardholder('SGD');
    const p = await purchase(c, 3_000);
    const first = await cycleEnd();
    assert.equal((await settled({ cycle_end: first, currencies: ['SGD'] })).status, 'MATCHED');
    const before = {
      payable: await posted('network_payable', 'SGD'),
      bank: await posted('settlement_bank', 'SGD'),
      receivable: await posted('chargeback_receivable', 'SGD'),
    };
    const delta = (now: { debits_posted: number; credits_posted: number }, was: { debits_posted: number; credits_posted: number }) => ({
      debits_posted: now.debits_posted - was.debits_posted,
      credits_posted: now.credits_posted - was.credits_posted,
    });
    await new Promise((r) => setTimeout(r, 10));

    // The company disputes 12.00 of it; the merchant accepts: won, the network owes it.
    const { dispute } = await openDispute(
      h.client,
      h.ledger,
      await getPayment(h.client, p.payment_id),
      { payment_id: p.payment_id, idempotency_key: 'won', reason: 'not_received', amount_minor: 1_200, evidence: 'never came' },
      { task_queue: h.task_queue, workflow: { representment_window_ms: 3_600_000, arbitration_window_ms: 3_600_000 } },
    );
    const disputeHandle = h.client.workflow.getHandle(disputeWorkflowId(dispute.dispute_id));
    await disputeHandle.executeUpdate(networkResponseUpdate, { args: [{ response: 'merchant_accepted' }] });
    assert.equal((await disputeHandle.result()).status, 'WON');
    const won = (await h.ledger.getPaymentTransfers(p.payment_id)).find((t) => t.code === TransferCode.dispute_won);
    assert.ok(won?.created_at, 'the win is booked');
    assert.deepEqual(delta(await posted('chargeback_receivable', 'SGD'), before.receivable), { debits_posted: 1_200, credits_posted: 0 });
    // The network settles the chargeback in the window of the win; a purchase in the same window.
    await network.record([
      {
        record_id: `${dispute.dispute_id}:won`,
        kind: 'chargeback',
        currency: 'SGD',
        amount_minor: 1_200,
        at: won.created_at.toISOString(),
      },
    ]);
    await purchase(c, 500);
    const second = await cycleEnd();

    const state = await settled({ cycle_end: second, currencies: ['SGD'] });
    assert.equal(state.status, 'MATCHED');
    const cycle = state.cycles[0]!.cycle!;
    assert.deepEqual(
      [cycle.cleared_minor, cycle.refunded_minor, cycle.chargebacks_minor, cycle.net_minor, cycle.transfers, cycle.reported_minor],
      [500, 0, 1_200, -700, 2, -700],
      'the net is the clearings less the won chargeback: the network pays us 7.00',
    );
    assert.ok(state.timeline.some((e) => e.event === 'cycle_opened' && e.detail?.includes('after 12.00 SGD of won chargebacks')));
    const [settlement] = await h.ledger.getTransfers([networkChargebackTransferId({ cycle_id: state.cycle_id, currency: 'SGD' })]);
    assert.deepEqual(
      [settlement?.amount_minor, settlement?.debit_account_id, settlement?.credit_account_id, settlement?.code],
      [
        1_200,
        platformAccount('network_payable', 'SGD'),
        platformAccount('chargeback_receivable', 'SGD'),
        TransferCode.network_chargeback_settlement,
      ],
    );
    // The receivable is settled, and network payable closes: 5.00 cleared and 7.00 wired to us on
    // its credit side, the chargeback's 12.00 on its debit side.
    const settledBalances = async () => ({
      payable: delta(await posted('network_payable', 'SGD'), before.payable),
      bank: delta(await posted('settlement_bank', 'SGD'), before.bank),
      receivable: delta(await posted('chargeback_receivable', 'SGD'), before.receivable),
    });
    assert.deepEqual(await settledBalances(), {
      payable: { debits_posted: 1_200, credits_posted: 1_200 },
      bank: { debits_posted: 700, credits_posted: 0 },
      receivable: { debits_posted: 1_200, credits_posted: 1_200 },
    });

    // Exactly once: the same cycle again writes nothing, the next one does not count the win again.
    const balances = await settledBalances();
    assert.deepEqual((await settled({ cycle_end: second, currencies: ['SGD'] })).cycles, state.cycles);
    await new Promise((r) => setTimeout(r, 10));
    const third = await settled({ cycle_end: await cycleEnd(), currencies: ['SGD'] });
    assert.deepEqual([third.status, third.cycles[0]!.cycle!.chargebacks_minor, third.cycles[0]!.cycle!.net_minor], ['MATCHED', 0, 0]);
    const { rows } = await h.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger.transfers WHERE currency = $1 AND code = $2',
      ['SGD', TransferCode.network_chargeback_settlement],
    );
    assert.equal(rows[0]!.n, 1);
    assert.deepEqual(await settledBalances(), balances);
  });
});

describe('idempotency and windows', () => {
  test('re-running a cycle writes nothing twice and keeps the first report', async () => {
    const c = await cardholder('CHF');
    await purchase(c, 1_500);
    const end = await cycleEnd();
    const first = await settled({ cycle_end: end, currencies: ['CHF'] });
    const balances = { payable: await posted('network_payable', 'CHF'), bank: await posted('settlement_bank', 'CHF') };

    // The network learns of another clearing in the window afterwards: the settled cycle stands.
    await network.record([
      {
        record_id: `late-${randomUUID()}`,
        kind: 'clearing',
        currency: 'CHF',
        amount_minor: 99,
        at: new Date(Date.parse(end) - 1).toISOString(),
      },
    ]);
    const again = await settled({ cycle_end: end, currencies: ['CHF'] });
    assert.deepEqual(again.cycles, first.cycles);
    assert.equal(again.status, 'MATCHED');
    assert.equal(await storedCycles('CHF'), 1);
    assert.equal(await wires('CHF'), 1);
    assert.deepEqual({ payable: await posted('network_payable', 'CHF'), bank: await posted('settlement_bank', 'CHF') }, balances);
  });

  test('consecutive cycles neither overlap nor skip a posting; an earlier end is refused', async () => {
    const c = await cardholder('CAD');
    await purchase(c, 1_000);
    await purchase(c, 700);
    const firstEnd = await cycleEnd();
    await new Promise((r) => setTimeout(r, 10));
    const later = await purchase(c, 2_000);
    await refund(later, 250);
    const secondEnd = await cycleEnd();
    await new Promise((r) => setTimeout(r, 10));
    await purchase(c, 40); // after both cycles: settled by neither

    const one = (await settled({ cycle_end: firstEnd, currencies: ['CAD'] })).cycles[0]!.cycle!;
    const two = (await settled({ cycle_end: secondEnd, currencies: ['CAD'] })).cycles[0]!.cycle!;
    assert.equal(one.window_end, firstEnd);
    assert.equal(two.window_start, one.window_end, 'the second cycle starts where the first ended');
    assert.deepEqual([one.net_minor, one.transfers, one.status], [1_700, 2, 'matched']);
    assert.deepEqual([two.net_minor, two.transfers, two.status], [1_750, 2, 'matched']);
    // Every posting up to the second end is in exactly one cycle.
    const { rows } = await h.pool.query<{ charged: string; refunded: string }>(
      `SELECT coalesce(sum(amount) FILTER (WHERE code IN (202, 203, 204)), 0)::text AS charged,
              coalesce(sum(amount) FILTER (WHERE code = 205), 0)::text AS refunded
         FROM ledger.transfers WHERE currency = 'CAD' AND created_at < $1`,
      [secondEnd],
    );
    assert.equal(Number(rows[0]!.charged) - Number(rows[0]!.refunded), one.net_minor + two.net_minor);
    assert.deepEqual(await posted('network_payable', 'CAD'), { debits_posted: 250 + 1_700 + 1_750, credits_posted: 3_740 });

    // A cycle ending before the latest one would overlap it: refused, flagged, nothing written.
    const earlier = new Date(Date.parse(firstEnd) + 1).toISOString();
    const refused = await settled({ cycle_end: earlier, currencies: ['CAD'] });
    assert.equal(refused.status, 'FAILED');
    assert.equal(refused.needs_attention, true);
    assert.match(refused.cycles[0]!.error ?? '', /not after the latest cycle/);
    assert.equal(await storedCycles('CAD'), 2);
    assert.equal(await wires('CAD'), 2);
  });
});

describe('cutoff', () => {
  test('a straggler that started before the cycle end and commits after it posts into that cycle', async () => {
    const c = await cardholder('JPY');
    await purchase(c, 5_000);
    // The straggler: a clearing authorized now, whose ledger transaction starts before the cycle's
    // end but cannot commit until after it, because a blocker holds the row lock on the company's
    // credit line. The transfer is stamped with its transaction's start (before the end), so the
    // cycle must wait for it and net it; netting without it would let it slip between two cycles.
    const late: CardPayment = {
      payment_id: `txn-${randomUUID()}`,
      card_id: c.card_id,
      currency: c.currency,
      merchant: { mcc: '5411', name: 'Late Grocery' },
    };
    const decision = await authorizeCardPayment(h.client, late, { amount_minor: 700, deadline_at_ms: Date.now() + 10_000 }, opts());
    assert.equal(decision.approved, true);
    const blocker = await h.pool.connect();
    let blockerOpen = false;
    try {
      await blocker.query('BEGIN');
      blockerOpen = true;
      await blocker.query('SELECT id FROM ledger.accounts WHERE id = $1 FOR UPDATE', [c.account_id]);
      const clearing = clearCardPayment(h.client, late, { event_id: 'clr-1', amount_minor: 700 }, opts());
      clearing.catch(() => undefined); // awaited below; a failure before then must not go unhandled
      // Waits until the clearing's ledger transaction has begun and is queued behind the blocker
      // (a batch takes its locks in its first round trip, one call of ledger.batch_read).
      const waitDeadline = Date.now() + 60_000;
      for (;;) {
        const { rows } = await h.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%ledger.batch_read(%'`,
        );
        if (rows[0]!.n > 0) break;
        assert.ok(Date.now() < waitDeadline, "the clearing's ledger transaction waits on the blocker's lock");
        await new Promise((r) => setTimeout(r, 50));
      }
      const end = await cycleEnd();
      const handle = await settle({ cycle_end: end, currencies: ['JPY'] });
      // Past the cycle's lag: rule 1 alone would net it now.
      await new Promise((r) => setTimeout(r, LAG_MS * 5));
      assert.equal(await storedCycles('JPY'), 0, 'not netted while the straggler is open');
      assert.equal((await handle.query(getNetworkSettlementQuery)).status, 'RUNNING');
      await blocker.query('COMMIT');
      blockerOpen = false;
      const cleared = await clearing;
      assert.equal(cleared.posted_minor, 700);
      const posting = (await h.ledger.getPaymentTransfers(late.payment_id)).find((t) => t.code === TransferCode.card_clearing);
      assert.ok(posting?.created_at, 'the straggler posted its clearing');
      assert.ok(posting.created_at < new Date(end), `stamped ${posting.created_at.toISOString()}, before the end ${end}`);
      await network.record([
        {
          record_id: `${late.payment_id}:clr-1`,
          kind: 'clearing',
          currency: c.currency,
          amount_minor: 700,
          at: posting.created_at.toISOString(),
        },
      ]);
      const state = await handle.result();
      assert.equal(state.status, 'MATCHED');
      assert.equal(state.cycles[0]!.cycle!.net_minor, 5_700, 'the straggler is in the cycle');
      assert.equal(state.cycles[0]!.cycle!.transfers, 2);
    } finally {
      if (blockerOpen) await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
    }
  });
});

describe('bad input', () => {
  test('a malformed or premature run is refused before anything is written', async () => {
    const cases: Array<[string, NetworkSettlementInput]> = [
      ['currencies.0', { currencies: ['XXX' as Currency] }],
      ['currencies', { currencies: [] }],
      ['currencies', { currencies: ['USD', 'USD'] }],
      ['cycle_end', { cycle_end: 'yesterday' }],
      ['lag_ms', { lag_ms: -1 }],
      ['lag_ms', { interval_ms: 60_000, lag_ms: 60_000 }],
      ['interval_ms', { interval_ms: 1_000 }],
      ['attention_after_ms', { attention_after_ms: 10 }],
      ['attention_after_ms', { interval_ms: 60_000, lag_ms: 1_000, attention_after_ms: 60_000 }],
      ['cycle_end', { cycle_end: new Date(Date.now() + 3_600_000).toISOString(), currencies: ['USD'] }],
    ];
    for (const [field, input] of cases) {
      await assert.rejects(settled(input), (err: Error) => {
        assert.ok(err instanceof WorkflowFailedError, String(err));
        assert.ok(err.cause instanceof ApplicationFailure);
        assert.equal(err.cause.type, 'InvalidNetworkSettlement');
        assert.match(err.cause.message, new RegExp(`network settlement ${field.replaceAll('.', '\\.')}:`));
        return true;
      });
    }
    assert.equal(await storedCycles('USD'), 0);
  });

  test('the network refuses malformed records', async () => {
    const post = (body: unknown) =>
      fetch(new URL('/network/records', h.simulator.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const good = { record_id: 'r-1', kind: 'clearing', currency: 'USD', amount_minor: 10, at: new Date().toISOString() };
    for (const bad of [
      { ...good, amount_minor: 10.5 },
      { ...good, currency: 'XXX' },
      { ...good, at: 'now' },
      { ...good, kind: 'gift' },
    ]) {
      assert.equal((await post({ records: [bad] })).status, 400, JSON.stringify(bad));
    }
    assert.equal((await post({ records: [good, good] })).status, 400, 'a record id twice in one request');
    assert.equal((await post({ records: [good] })).status, 200);
    assert.equal((await post({ records: [good] })).status, 200, 'the same record again');
    assert.equal((await post({ records: [{ ...good, amount_minor: 11 }] })).status, 409, 'the same id with another amount');
    await assert.rejects(network.injectDiscrepancy({ currency: 'USD', window_end: new Date().toISOString(), delta_minor: 0 }));
  });
});

describe('a stuck cycle', () => {
  // After 'bad input', which checks that USD has no cycle yet: this cycle is USD's first.
  test('a step that keeps failing retryably flags NeedsAttention within attention_after_ms, and settles once it recovers', async () => {
    // A transaction open across the cycle's end keeps the netting step failing with the retryable
    // NetworkCycleNotDue: a cycle stuck on a retryable error, as in a database or network outage.
    const straggler = await h.pool.connect();
    try {
      await straggler.query('BEGIN');
      await straggler.query('SELECT 1');
      const end = await cycleEnd();
      const handle = await settle({ cycle_end: end, currencies: ['USD'], attention_after_ms: 1_000 });
      let flagged: NetworkSettlementState | null = null;
      for (let attempt = 0; attempt < 150 && !flagged; attempt += 1) {
        const state = await handle.query(getNetworkSettlementQuery);
        if (state.needs_attention) flagged = state;
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(flagged, 'flagged while the step still retries');
      assert.equal(flagged.status, 'RUNNING');
      const stuck = flagged.timeline.find((e) => e.event === 'cycle_stuck');
      assert.match(stuck?.detail ?? '', /USD: netting the cycle .* still retrying after 1000 ms/, JSON.stringify(flagged.timeline));
      assert.equal((await handle.describe()).typedSearchAttributes.get(NeedsAttentionKey), true);
      assert.equal(await storedCycles('USD'), 0, 'nothing netted while stuck');
      await straggler.query('COMMIT');
      const state = await handle.result();
      // Settled (wired and reconciled) once the cause is gone; the network's report includes the
      // record 'bad input' sent it, so the cycle reconciles as mismatched, which is beside the point.
      assert.equal(state.cycles[0]!.error, undefined);
      assert.notEqual(state.cycles[0]!.cycle!.wired_minor, null, 'the run kept retrying and settled once the cause was gone');
      assert.equal(state.needs_attention, true, 'the flag stays for people to clear');
      assert.equal(await storedCycles('USD'), 1);
    } finally {
      straggler.release();
    }
  });
});

describe('schedule', () => {
  test('created once (a second start finds it), and a run it starts settles the cycle on its grid', async () => {
    const schedule_id = `network-settlement-test-${randomUUID()}`;
    const options = { schedule_id, task_queue: h.task_queue, interval_ms: DAY_MS, lag_ms: 60_000, currencies: ['AUD' as Currency] };
    const connection = h.client.connection;
    assert.equal(await ensureNetworkSettlementSchedule(connection, 'default', options), 'created');
    assert.equal(await ensureNetworkSettlementSchedule(connection, 'default', options), 'exists');
    const schedule = h.client.schedule.getHandle(schedule_id);
    try {
      const described = await schedule.describe();
      assert.deepEqual(
        described.spec.intervals?.map((i) => [i.every, i.offset]),
        [[DAY_MS, 60_000]],
      );
      await schedule.trigger();
      let workflowId: string | undefined;
      for (let attempt = 0; attempt < 100 && !workflowId; attempt += 1) {
        workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!workflowId) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(workflowId, 'the schedule started a run');
      const state = (await h.client.workflow.getHandle(workflowId).result()) as NetworkSettlementState;
      const expectedEnd = Math.floor((Date.now() - 60_000) / DAY_MS) * DAY_MS;
      assert.ok([expectedEnd, expectedEnd - DAY_MS].includes(Date.parse(state.cycle_end)), state.cycle_end);
      assert.equal(state.status, 'MATCHED');
      assert.equal(state.cycles[0]?.currency, 'AUD');
    } finally {
      await schedule.delete();
    }
  });
});
