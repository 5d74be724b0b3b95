// Disputes end to end through the gRPC API (an independent grpc-js client), on a real Temporal
// server and Postgres: every outcome (won by acceptance, by silence, by arbitration; lost;
// withdrawn), refunds during a dispute and at the same time as one, the ledger's atomic amount and
// one-open-dispute checks (bypassing the API's own), bad input and tenancy. The ledger verifier and
// each touched payment's transfers (invariant 5) are checked after every test.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { disputeId, disputeWorkflowId, type DisputeView, type DisputeWorkflowOptions } from '../../src/domain/dispute.js';
import { getDispute, openDispute as openDisputeDirect } from '../../src/api/disputes.js';
import { getPayment } from '../../src/api/payments.js';
import { platformAccount } from '../../src/ledger/accounts.js';
import { creditLineAccountId } from '../../src/ledger/ids.js';
import { checkPaymentAgainstLedger } from '../../src/ledger/payment-check.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { createDisputeActivities, type DisputeActivities } from '../../src/activities/dispute.js';
import { initialDisputeState } from '../../src/domain/dispute-lifecycle.js';
import { createEventStore, type StoredEvent } from '../../src/events/store.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher } from '../../src/ledger/batcher.js';
import { createHttpCardNetwork } from '../../src/settlement/network-client.js';
import { startApiHarness, type ApiHarness } from '../support/api.js';

let api: ApiHarness & { key: string };
const company = `co-${randomUUID().slice(0, 8)}`;
const other = `co-${randomUUID().slice(0, 8)}`;
let card = '';
const touched: string[] = [];
/** Long windows: outcomes come from messages, not timers (the timer tests use their own). */
const SLOW: DisputeWorkflowOptions = { representment_window_ms: 3_600_000, arbitration_window_ms: 3_600_000 };
const FAST: DisputeWorkflowOptions = { representment_window_ms: 1_500, arbitration_window_ms: 1_500 };

before(async () => {
  api = await startApiHarness('disputes', { companies: [company], dispute_options: SLOW });
  await api.ledger.CreateCreditLine({ company_id: company, currency: 'USD', limit_minor: '1000000', grant_key: 'initial' });
  card = `card-${randomUUID().slice(0, 8)}`;
  await api.cards.IssueCard({ card_id: card, company_id: company, currency: 'USD' });
});
after(async () => {
  await api?.close();
});
afterEach(async () => {
  const report = await verifyLedger(api.h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
  for (const payment_id of touched.splice(0)) {
    assert.equal(await checkPaymentAgainstLedger(api.h.ledger, await getPayment(api.h.client, payment_id)), null);
  }
});

/** A purchase authorized and cleared for `amount_minor`: what a dispute disputes. */
async function clearedPurchase(amount_minor: number): Promise<{ payment_id: string; tx: object }> {
  const payment_id = `txn-${randomUUID()}`;
  touched.push(payment_id);
  const tx = { payment_id, card_id: card, currency: 'USD', merchant: { mcc: '5411', name: 'Corner Grocery' } };
  const auth = await api.payments.Authorize({ transaction: tx, amount_minor: String(amount_minor) });
  assert.equal(auth.decision.approved, true);
  await api.payments.Clear({ transaction: tx, event_id: 'clearing-1', amount_minor: String(amount_minor) });
  return { payment_id, tx };
}

const open = (payment_id: string, amount_minor: number, key = randomUUID().slice(0, 8), reason = 'not_received') =>
  api.disputes.OpenDispute({ payment_id, idempotency_key: key, reason, amount_minor: String(amount_minor), evidence: 'never delivered' });

const available = async (account_id: string) => (await api.h.ledger.getBalance(account_id))!.available;
const posted = async (account_id: string) => (await api.h.ledger.getBalance(account_id))?.posted ?? 0n;
const companyLine = () => creditLineAccountId(company, 'USD');

/** Waits until the dispute's workflow reaches `status` (outcomes after a timer or a message). */
async function until(dispute_id: string, done: (d: DisputeView) => boolean): Promise<DisputeView> {
  for (;;) {
    const view = await getDispute(api.h.client, dispute_id);
    if (done(view)) return view;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const finished = async (dispute_id: string) => {
  await api.h.client.workflow.getHandle(disputeWorkflowId(dispute_id)).result();
  return getDispute(api.h.client, dispute_id);
};

/** The dispute activities as a worker runs them: a test calls a step again, as Temporal retries
 * one whose answer a worker lost. */
async function withSteps(run: (steps: DisputeActivities) => Promise<void>): Promise<void> {
  const postings = createTransferBatcher(api.h.ledger, DEFAULT_BATCHER_OPTIONS);
  try {
    await run(
      createDisputeActivities({
        postings,
        ledger: api.h.ledger,
        network: createHttpCardNetwork(api.h.simulator.url),
        events: createEventStore(api.h.pool),
      }),
    );
  } finally {
    await postings.close();
  }
}

/** What the workflow of `view` was started with (this file's company, in USD). */
const startOf = (view: DisputeView) => ({
  payment_id: view.payment_id,
  idempotency_key: view.dispute_id.split(':dispute:')[1]!,
  reason: view.reason,
  amount_minor: view.amount_minor,
  evidence: view.evidence,
  dispute_id: view.dispute_id,
  company_id: company,
  account_id: companyLine(),
  currency: 'USD' as const,
});

/** The dispute's filings at the network (the simulator's keys), sorted. */
const filingsOf = (dispute_id: string) =>
  [...api.h.simulator.network.disputeFilings.keys()].filter((k) => k.startsWith(`${dispute_id} `)).sort();

/** Runs a dispute's workflow directly, past the API's own checks: its final view. */
const disputeDirect = (payment_id: string, key: string, amount_minor: number, options: DisputeWorkflowOptions = SLOW) =>
  api.h.client.workflow.execute('disputeWorkflow', {
    workflowId: disputeWorkflowId(disputeId(payment_id, key)),
    taskQueue: api.h.task_queue,
    args: [
      {
        payment_id,
        idempotency_key: key,
        reason: 'other',
        amount_minor,
        evidence: 'started directly',
        dispute_id: disputeId(payment_id, key),
        company_id: company,
        account_id: companyLine(),
        currency: 'USD',
      },
      options,
    ],
  }) as Promise<DisputeView>;

/** The dispute's events (issue 16) once one of type `last` is among them: each step writes its
 * event after its ledger write, before the workflow records the step. */
async function disputeEvents(dispute_id: string, last: string): Promise<StoredEvent[]> {
  const store = createEventStore(api.h.pool);
  for (;;) {
    const page = await store.listEvents({ company_ids: [company], object_id: dispute_id }, { limit: 100 });
    if (page.events.some((e) => e.type === last)) return page.events;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Exactly these events, in order, each the dispute (as GetDispute returns it) of its company. */
async function assertDisputeEvents(dispute_id: string, expected: Array<[type: string, status: string]>): Promise<StoredEvent[]> {
  const events = await disputeEvents(dispute_id, expected.at(-1)![0]);
  assert.deepEqual(
    events.map((e) => [e.type, e.object.status]),
    expected,
  );
  for (const e of events) {
    assert.deepEqual([e.company_id, e.object_type, e.object_id], [company, 'dispute', dispute_id]);
    assert.deepEqual([e.object.disputeId, e.object.companyId], [dispute_id, company]);
    assert.equal(e.object.timeline, undefined, 'events do not carry the timeline');
  }
  return events;
}

describe('dispute outcomes', () => {
  test('merchant accepts: won; the credit stays with the company, the network owes it', async () => {
    const { payment_id } = await clearedPurchase(5_000);
    const line_before = await available(companyLine());
    const receivable_before = await posted(platformAccount('chargeback_receivable', 'USD'));
    const { dispute, started } = await open(payment_id, 3_000);
    assert.equal(started, true);
    assert.equal(dispute.status, 'FILED');
    assert.equal(dispute.credited_minor, '3000');
    assert.match(dispute.case_id, /^case-/);
    assert.equal(await available(companyLine()), line_before + 3_000n);
    const answered = await api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'merchant_accepted' });
    assert.equal(answered.dispute.status, 'WON');
    const won = await finished(dispute.dispute_id);
    assert.deepEqual([won.status, won.won_minor, won.credited_minor], ['WON', 3_000, 0]);
    assert.equal(await available(companyLine()), line_before + 3_000n);
    assert.equal(await posted(platformAccount('chargeback_receivable', 'USD')), receivable_before - 3_000n);
    // One event per change: opened (the credit), won (the credit final).
    const events = await assertDisputeEvents(dispute.dispute_id, [
      ['dispute.opened', 'OPENING'],
      ['dispute.won', 'WON'],
    ]);
    assert.deepEqual([events[0]!.object.creditedMinor, events[0]!.object.amountMinor], ['3000', '3000']);
    assert.deepEqual(
      [events[1]!.object.wonMinor, events[1]!.object.creditedMinor, events[1]!.object.caseId],
      ['3000', '0', dispute.case_id],
    );
    // GetPayment shows it.
    const { payment } = await api.payments.GetPayment({ payment_id });
    assert.deepEqual(
      payment.disputes.map((d: Record<string, string>) => [d.dispute_id, d.status, d.amount_minor, d.won_minor]),
      [[dispute.dispute_id, 'WON', '3000', '3000']],
    );
    // The same key is the same dispute; with other fields it is refused.
    const again = await open(payment_id, 3_000, dispute.dispute_id.split(':dispute:')[1]);
    assert.deepEqual([again.started, again.dispute.status], [false, 'WON']);
    await assert.rejects(open(payment_id, 2_000, dispute.dispute_id.split(':dispute:')[1]), { code: 6 /* ALREADY_EXISTS */ });
    // What was won stays disputed: only the rest can be disputed again.
    await assert.rejects(open(payment_id, 2_001), (err: Error & { code: number }) => err.code === 9 && /2000/.test(err.message));
  });

  test('a retried step writes its event once: the id comes from the dispute and the change', async () => {
    const { payment_id } = await clearedPurchase(1_200);
    const { dispute } = await open(payment_id, 1_200);
    await api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'merchant_accepted' });
    const won = await finished(dispute.dispute_id);
    const written = await assertDisputeEvents(dispute.dispute_id, [
      ['dispute.opened', 'OPENING'],
      ['dispute.won', 'WON'],
    ]);
    // The two steps again, as Temporal retries them after a worker lost their answers.
    await withSteps(async (steps) => {
      const d = startOf(won);
      const state = initialDisputeState(won.reason, 1_200);
      const view = { ...won, status: 'OPENING' as const, credited_minor: 0, won_minor: 0, timeline: [] };
      assert.deepEqual(await steps.openDispute({ ...d, event_context: { view, state } }), { booked: true });
      const filed = { ...state, status: 'FILED' as const, credited_minor: 1_200 };
      await steps.bookDisputeWon({
        dispute: d,
        won_minor: 1_200,
        event_context: {
          view: { ...view, status: 'FILED', credited_minor: 1_200 },
          state: filed,
          outcome: { type: 'won', won_minor: 1_200, detail: 'retried' },
        },
      });
    });
    const again = await createEventStore(api.h.pool).listEvents({ company_ids: [company], object_id: dispute.dispute_id }, { limit: 100 });
    assert.deepEqual(
      again.events.map((e) => [e.event_id, e.object]),
      written.map((e) => [e.event_id, e.object]),
      'no second event, the first unchanged',
    );
  });

  test('merchant silent past the representment window: won by the timer', async () => {
    const { payment_id } = await clearedPurchase(1_000);
    const payment = await getPayment(api.h.client, payment_id);
    const { dispute } = await openDisputeDirect(
      api.h.client,
      api.h.ledger,
      payment,
      { payment_id, idempotency_key: 'silence', reason: 'fraudulent', amount_minor: 1_000, evidence: 'not me' },
      { task_queue: api.h.task_queue, workflow: FAST },
    );
    assert.equal(dispute.status, 'FILED');
    const won = await finished(dispute.dispute_id);
    assert.equal(won.status, 'WON');
    assert.ok(won.timeline.some((e) => e.event === 'won' && /representment window/.test(e.detail ?? '')));
  });

  test('representment goes to pre-arbitration; the network rules for the cardholder (won)', async () => {
    const { payment_id } = await clearedPurchase(2_000);
    const { dispute } = await open(payment_id, 2_000);
    const pre = await api.disputes.RecordNetworkResponse({
      dispute_id: dispute.dispute_id,
      response: 'merchant_represented',
      detail: 'signed delivery note',
    });
    assert.equal(pre.dispute.status, 'PRE_ARBITRATION');
    assert.ok(api.h.simulator.network.disputeFilings.has(`${dispute.dispute_id} pre_arbitration`));
    // A merchant answer is for a filed chargeback only: refused, nothing changes.
    await assert.rejects(api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'merchant_accepted' }), {
      code: 9,
    });
    const ruled = await api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'arbitration_won' });
    assert.equal(ruled.dispute.status, 'WON');
    assert.equal((await finished(dispute.dispute_id)).won_minor, 2_000);
  });

  test('pre-arbitration lost: the provisional credit is taken back', async () => {
    const { payment_id } = await clearedPurchase(2_500);
    const line_before = await available(companyLine());
    const { dispute } = await open(payment_id, 2_500);
    await api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'merchant_represented' });
    const lost = await api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'arbitration_lost' });
    assert.equal(lost.dispute.status, 'LOST');
    const view = await finished(dispute.dispute_id);
    assert.deepEqual([view.credited_minor, view.reversed_minor], [0, 2_500]);
    assert.equal(await available(companyLine()), line_before);
    const [, lostEvent] = await assertDisputeEvents(dispute.dispute_id, [
      ['dispute.opened', 'OPENING'],
      ['dispute.lost', 'LOST'],
    ]);
    assert.deepEqual([lostEvent!.object.reversedMinor, lostEvent!.object.creditedMinor], ['2500', '0']);
    // Lost gives the allowance back and frees the slot: the payment can be disputed again.
    const second = await open(payment_id, 2_500);
    assert.equal(second.dispute.status, 'FILED');
    await api.disputes.WithdrawDispute({ dispute_id: second.dispute.dispute_id, reason: 'tidy up' });
    await finished(second.dispute.dispute_id);
    await assertDisputeEvents(second.dispute.dispute_id, [
      ['dispute.opened', 'OPENING'],
      ['dispute.withdrawn', 'WITHDRAWN'],
    ]);
  });

  test('no ruling past the arbitration window: flagged for a person, still waiting', async () => {
    const { payment_id } = await clearedPurchase(700);
    const payment = await getPayment(api.h.client, payment_id);
    const { dispute } = await openDisputeDirect(
      api.h.client,
      api.h.ledger,
      payment,
      { payment_id, idempotency_key: 'overdue', reason: 'duplicate', amount_minor: 700, evidence: 'charged twice' },
      { task_queue: api.h.task_queue, workflow: { representment_window_ms: 3_600_000, arbitration_window_ms: 1_000 } },
    );
    await api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'merchant_represented' });
    const flagged = await until(dispute.dispute_id, (d) => d.needs_attention);
    assert.equal(flagged.status, 'PRE_ARBITRATION');
    assert.ok(flagged.timeline.some((e) => e.event === 'attention' && /arbitration_overdue/.test(e.detail ?? '')));
    const ruled = await api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'arbitration_won' });
    assert.equal(ruled.dispute.status, 'WON');
    await finished(dispute.dispute_id);
  });

  test('the network refuses the chargeback: the credit is taken back, the dispute refused (its event with it)', async () => {
    const { payment_id } = await clearedPurchase(800);
    const line_before = await available(companyLine());
    const key = `refused-${randomUUID().slice(0, 8)}`;
    const dispute_id = disputeId(payment_id, key);
    // The network knows this filing with other fields: it refuses it (422).
    api.h.simulator.network.disputeFilings.set(`${dispute_id} chargeback`, 'another filing');
    const view = await disputeDirect(payment_id, key, 800);
    assert.equal(view.status, 'REFUSED');
    assert.match(view.refusal!, /refused the chargeback/);
    assert.equal(await available(companyLine()), line_before);
    const [, refused] = await assertDisputeEvents(dispute_id, [
      ['dispute.opened', 'OPENING'],
      ['dispute.refused', 'REFUSED'],
    ]);
    assert.deepEqual([refused!.object.creditedMinor, refused!.object.reversedMinor], ['0', '800']);
    assert.match(String(refused!.object.refusal), /refused the chargeback/);
  });

  test('withdrawn by the company: chargeback withdrawn at the network, credit taken back', async () => {
    const { payment_id } = await clearedPurchase(900);
    const line_before = await available(companyLine());
    const { dispute } = await open(payment_id, 600);
    assert.equal(await available(companyLine()), line_before + 600n);
    await assert.rejects(api.disputes.WithdrawDispute({ dispute_id: dispute.dispute_id, reason: '' }), { code: 3 });
    const withdrawn = await api.disputes.WithdrawDispute({ dispute_id: dispute.dispute_id, reason: 'the goods arrived' });
    assert.equal(withdrawn.dispute.status, 'WITHDRAWN');
    await finished(dispute.dispute_id);
    assert.equal(await available(companyLine()), line_before);
    assert.ok(api.h.simulator.network.disputeFilings.has(`${dispute.dispute_id} withdrawal`));
    await assert.rejects(api.disputes.WithdrawDispute({ dispute_id: dispute.dispute_id, reason: 'again' }), { code: 9 });
    const [, withdrawnEvent] = await assertDisputeEvents(dispute.dispute_id, [
      ['dispute.opened', 'OPENING'],
      ['dispute.withdrawn', 'WITHDRAWN'],
    ]);
    assert.deepEqual([withdrawnEvent!.object.reversedMinor, withdrawnEvent!.object.deadlineAt], ['600', '']);
  });
});

describe('refunds and disputes', () => {
  test('a refund during a dispute reduces it; a refund of the rest withdraws it', async () => {
    const { payment_id, tx } = await clearedPurchase(1_000);
    const line_before = await available(companyLine());
    const { dispute } = await open(payment_id, 800);
    // 300 refunded: 200 of it was not disputed, 100 overlaps the dispute.
    await api.payments.Refund({ transaction: tx, event_id: 'refund-1', amount_minor: '300' });
    const reduced = await until(dispute.dispute_id, (d) => d.open_minor === 700);
    assert.deepEqual([reduced.status, reduced.credited_minor, reduced.reversed_minor], ['FILED', 700, 100]);
    // The network is told: the chargeback is for 7.00 now (it would settle 8.00 otherwise).
    assert.deepEqual(filingsOf(dispute.dispute_id), [`${dispute.dispute_id} amount_change 700`, `${dispute.dispute_id} chargeback`]);
    // The company got 1000 back in all (300 refund + 700 credit), never more than it paid.
    assert.equal(await available(companyLine()), line_before + 300n + 700n);
    await api.payments.Refund({ transaction: tx, event_id: 'refund-2', amount_minor: '700' });
    const withdrawn = await finished(dispute.dispute_id);
    assert.deepEqual(
      [withdrawn.status, withdrawn.open_minor, withdrawn.credited_minor, withdrawn.reversed_minor],
      ['WITHDRAWN', 0, 0, 800],
    );
    assert.equal(await available(companyLine()), line_before + 1_000n);
    // Covered in full: withdrawn at the network, no amount change to 0.
    assert.deepEqual(filingsOf(dispute.dispute_id), [
      `${dispute.dispute_id} amount_change 700`,
      `${dispute.dispute_id} chargeback`,
      `${dispute.dispute_id} withdrawal`,
    ]);
    // The reduction is a change the company sees; the refund that covers the rest withdraws it.
    const events = await assertDisputeEvents(dispute.dispute_id, [
      ['dispute.opened', 'OPENING'],
      ['dispute.reduced', 'FILED'],
      ['dispute.withdrawn', 'WITHDRAWN'],
    ]);
    assert.deepEqual([events[1]!.object.openMinor, events[1]!.object.reversedMinor], ['700', '100']);
  });

  test('a reconciliation retried after its reductions were booked answers the same, and files the new amount once', async () => {
    const { payment_id, tx } = await clearedPurchase(1_000);
    const { dispute } = await open(payment_id, 800);
    await api.payments.Refund({ transaction: tx, event_id: 'refund-1', amount_minor: '300' });
    const reduced = await until(dispute.dispute_id, (d) => d.open_minor === 700);
    const filed = filingsOf(dispute.dispute_id);
    // The step again with the input it had (800 open), as Temporal retries it when a worker lost
    // its answer: the ledger already has the reduction, and the answer must still say 100.
    await withSteps(async (steps) => {
      const d = startOf(reduced);
      assert.deepEqual(await steps.reconcileDisputeRefunds({ dispute: d, open_minor: 800 }), { covered_minor: 100 });
      assert.deepEqual(await steps.reconcileDisputeRefunds({ dispute: d, open_minor: 700 }), { covered_minor: 0 });
      await assert.rejects(
        steps.reconcileDisputeRefunds({ dispute: d, open_minor: 600 }),
        /the ledger has 700 of dispute .* open, the workflow 600/,
      );
    });
    assert.deepEqual(filingsOf(dispute.dispute_id), filed, 'the same filings, none twice');
    // The network takes an amount change only below the chargeback it has.
    const network = createHttpCardNetwork(api.h.simulator.url);
    const filing = {
      dispute_id: reduced.dispute_id,
      stage: 'amount_change' as const,
      payment_id,
      reason: reduced.reason,
      currency: 'USD' as const,
      amount_minor: 800,
    };
    await assert.rejects(network.fileDispute({ ...filing, amount_minor: 800 }), /is for 800: a change lowers it/);
    await assert.rejects(network.fileDispute({ ...filing, dispute_id: `${filing.dispute_id}-x`, amount_minor: 1 }), /no chargeback/);
    await api.disputes.WithdrawDispute({ dispute_id: dispute.dispute_id, reason: 'test over' });
    const withdrawn = await finished(dispute.dispute_id);
    assert.deepEqual([withdrawn.credited_minor, withdrawn.reversed_minor], [0, 800]);
  });

  test('refund and dispute at the same time never give back more than was posted', async () => {
    for (let round = 0; round < 3; round += 1) {
      const { payment_id, tx } = await clearedPurchase(1_000);
      const line_before = await available(companyLine());
      const [refund, opened] = await Promise.allSettled([
        api.payments.Refund({ transaction: tx, event_id: 'refund-1', amount_minor: '600' }),
        open(payment_id, 700),
      ]);
      assert.equal(refund.status, 'fulfilled');
      if (opened.status === 'rejected') {
        // The API's check saw the refund first.
        assert.equal((opened.reason as { code: number }).code, 9);
        assert.equal(await available(companyLine()), line_before + 600n);
        continue;
      }
      const id = opened.value.dispute.dispute_id as string;
      // Let the dispute reconcile (the refund's notice or its next message), then withdraw it.
      const settled = await until(id, (d) => d.status === 'REFUSED' || d.open_minor <= 400);
      if (settled.status !== 'REFUSED') {
        assert.equal(settled.open_minor, 400);
        assert.equal(await available(companyLine()), line_before + 600n + 400n);
        await api.disputes.RecordNetworkResponse({ dispute_id: id, response: 'merchant_accepted' });
      }
      await finished(id);
      // Never more than posted: 600 refunded + at most 400 disputed.
      assert.ok((await available(companyLine())) <= line_before + 1_000n);
    }
  });
});

describe('the ledger decides (checks behind the API)', () => {
  test('two disputes started at once: one is booked, the other refused, nothing posted for it', async () => {
    const { payment_id } = await clearedPurchase(1_000);
    const line_before = await available(companyLine());
    const start = (key: string) => disputeDirect(payment_id, key, 400, { representment_window_ms: 1_000, arbitration_window_ms: 1_000 });
    const outcomes = await Promise.all([start('race-a'), start('race-b')]);
    const statuses = outcomes.map((o) => o.status).sort();
    assert.deepEqual(statuses, ['REFUSED', 'WON']);
    const refused = outcomes.find((o) => o.status === 'REFUSED')!;
    assert.match(refused.refusal!, /already has an open dispute/);
    assert.equal(await available(companyLine()), line_before + 400n);
    const [refusedEvent] = await assertDisputeEvents(refused.dispute_id, [['dispute.refused', 'REFUSED']]);
    assert.match(String(refusedEvent!.object.refusal), /already has an open dispute/);
    const wonId = outcomes.find((o) => o.status === 'WON')!.dispute_id;
    await assertDisputeEvents(wonId, [
      ['dispute.opened', 'OPENING'],
      ['dispute.won', 'WON'],
    ]);
  });

  test('over the amount: refused by the API and, past it, by the ledger; nothing credited', async () => {
    const { payment_id } = await clearedPurchase(500);
    const line_before = await available(companyLine());
    await assert.rejects(
      open(payment_id, 501),
      (err: Error & { code: number }) => err.code === 9 && /exceeds what is posted/.test(err.message),
    );
    const view = await disputeDirect(payment_id, 'direct', 501);
    assert.equal(view.status, 'REFUSED');
    assert.match(view.refusal!, /exceeds what is posted and not yet refunded or disputed \(500\)/);
    assert.equal(await available(companyLine()), line_before);
  });
});

describe('bad input and tenancy', () => {
  test('each bad field is refused with INVALID_ARGUMENT naming it, and nothing is started', async () => {
    const { payment_id } = await clearedPurchase(100);
    const good = { payment_id, idempotency_key: 'k1', reason: 'fraudulent', amount_minor: '50', evidence: 'x' };
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ payment_id: 'bad id!' }, /payment_id/],
      [{ idempotency_key: '' }, /idempotency_key/],
      [{ idempotency_key: 'a:b' }, /idempotency_key/],
      [{ reason: 'bored' }, /reason: must be one of/],
      [{ amount_minor: '0' }, /amount_minor: must be greater than zero/],
      [{ amount_minor: '-5' }, /amount_minor/],
      [{ amount_minor: '99999999999999999' }, /amount_minor/],
      [{ evidence: '   ' }, /evidence: must not be empty/],
      [{ evidence: 'e'.repeat(2_001) }, /evidence/],
    ];
    for (const [change, message] of cases) {
      await assert.rejects(api.disputes.OpenDispute({ ...good, ...change }), (err: Error & { code: number }) => {
        assert.equal(err.code, 3, `${JSON.stringify(change)}: ${err.message}`);
        assert.match(decodeURIComponent((err as unknown as { details: string }).details), message);
        return true;
      });
    }
    await assert.rejects(getDispute(api.h.client, disputeId(payment_id, 'k1')), /not found/i);
    await assert.rejects(api.disputes.GetDispute({ dispute_id: 'nope' }), { code: 3 });
    await assert.rejects(api.disputes.ListDisputes({ status: 'DONE' }), { code: 3 });
    const { dispute } = await open(payment_id, 100);
    await assert.rejects(api.disputes.RecordNetworkResponse({ dispute_id: dispute.dispute_id, response: 'maybe' }), { code: 3 });
    // Not cleared yet: nothing to dispute.
    const pending = `txn-${randomUUID()}`;
    touched.push(pending);
    await api.payments.Authorize({
      transaction: { payment_id: pending, card_id: card, currency: 'USD', merchant: { mcc: '5411', name: 'Shop' } },
      amount_minor: '100',
    });
    await assert.rejects(open(pending, 10), (err: Error & { code: number }) => err.code === 9 && /not been cleared/.test(err.message));
    await api.disputes.WithdrawDispute({ dispute_id: dispute.dispute_id, reason: 'test over' });
    await finished(dispute.dispute_id);
  });

  test("another company's key sees no dispute: NOT_FOUND, and ListDisputes lists only its own", async () => {
    const { payment_id } = await clearedPurchase(300);
    const { dispute } = await open(payment_id, 300);
    const { api_key } = await api.keys.create({ name: `other-${randomUUID().slice(0, 8)}`, company_ids: [other] });
    const as = { key: api_key };
    await assert.rejects(api.disputes.GetDispute({ dispute_id: dispute.dispute_id }, as), { code: 5 });
    await assert.rejects(api.disputes.WithdrawDispute({ dispute_id: dispute.dispute_id, reason: 'mine now' }, as), { code: 5 });
    await assert.rejects(
      open(payment_id, 1).then(() => undefined),
      { code: 9 },
    ); // own: one open dispute
    await assert.rejects(
      api.disputes.OpenDispute({ payment_id, idempotency_key: 'x', reason: 'other', amount_minor: '1', evidence: 'e' }, as),
      { code: 5 },
    );
    assert.deepEqual((await api.disputes.ListDisputes({}, as)).disputes, []);
    // Visibility is eventually consistent: the owner's list shows it once indexed.
    for (;;) {
      const mine = await api.disputes.ListDisputes({ payment_id });
      if (mine.disputes.length === 1) {
        assert.equal(mine.disputes[0].dispute_id, dispute.dispute_id);
        assert.equal(mine.disputes[0].company_id, company);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // Disputes are not payments.
    const payments = await api.payments.ListPayments({ page_size: 500 });
    assert.ok(!payments.payments.some((p: { payment_id: string }) => p.payment_id.includes(':dispute:')));
    await api.disputes.WithdrawDispute({ dispute_id: dispute.dispute_id, reason: 'test over' });
    await finished(dispute.dispute_id);
  });
});
