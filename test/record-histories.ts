// `npm run histories:record`: runs every payment path once against a real Postgres and Temporal
// server, and saves each workflow's history under test/histories/, where the replay test
// (test/unit/replay.test.ts) replays them against the current workflow code. Re-record only on
// purpose: the recorded histories are what proves that old payments still replay.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../src/codec/data-converter.js';
import {
  authorizeCardPayment as authorizeAsClient,
  cardStartAttributes,
  cardWorkflowArgs,
  clearCardPayment,
  incrementCardPayment,
  refundCardPayment,
  reverseCardPayment,
  type CardClientOptions,
} from '../src/api/card-payments.js';
import { startPayout } from '../src/api/payments.js';
import { getDispute, recordNetworkResponse, withdrawDispute } from '../src/api/disputes.js';
import { refundBookedSignal } from '../src/workflows/dispute-messages.js';
import { disputeId, disputeWorkflowId } from '../src/domain/dispute.js';
import { REPO_ROOT } from '../src/config.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment } from '../src/domain/card.js';
import { getPayment } from '../src/api/payments.js';
import { resolveAttention, retrySettlement } from '../src/api/ops.js';
import { payoutTransferIds } from '../src/activities/payout.js';
import { paymentWorkflowId, type PayoutRequest } from '../src/domain/payment.js';
import type { TransferBatcher } from '../src/ledger/batcher.js';
import { payoutIdempotencyKey } from '../src/settlement/gateway.js';
import { openCreditLine } from '../src/ledger/accounts.js';
import { createHttpCardNetwork } from '../src/settlement/network-client.js';
import { REJECTED_ACCOUNT_PREFIX, RETURNED_DEBIT_ACCOUNT_PREFIX } from '../src/settlement/simulator.js';
import { getBilling, recordRepayment, startBilling } from '../src/api/billing.js';
import { billingWorkflowId } from '../src/domain/billing.js';
import type { networkSettlementWorkflow } from '../src/workflows/network-settlement.js';
import {
  authorizeUpdate,
  clearUpdate,
  getPaymentQuery,
  refundUpdate,
  resolveAttentionUpdate,
  standInAdviceSignal,
  voidHoldUpdate,
} from '../src/workflows/messages.js';
import { getNetworkSettlementQuery } from '../src/workflows/network-settlement-messages.js';
import { postCallback, startPaymentsHarness } from './support/payments.js';
import { testKeyRing } from './support/codec.js';
import { startWebhookDelivery } from '../src/api/webhooks.js';
import { createEndpointStore } from '../src/events/endpoints.js';
import { startWebhookReceiver } from '../src/events/receiver.js';
import { startTestStack } from './support/stack.js';

export const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
const log = (msg: string) => console.error(`[histories:record] ${msg}`);

/** `npm run histories:record -- <word>` records only the histories whose name contains the word (or one of comma-separated words)
 * (e.g. `network-settlement`), so a change to one workflow re-records only that workflow's files. */
const only = process.argv[2]?.split(',');
const wanted = (name: string) => only === undefined || only.some((word) => name.includes(word));
const disputePathsWanted = () => only === undefined || only.some((word) => 'dispute-'.includes(word) || word.startsWith('dispute-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually(what: string, ok: () => Promise<boolean>, timeout_ms = 60_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const scratch = path.join(REPO_ROOT, '.tmp', `record-${process.pid}`);
mkdirSync(scratch, { recursive: true });
const stack = await startTestStack(scratch, log);
try {
  // Payouts are confirmed by the bank's callback, as under `npm start`. Payloads are recorded in
  // clear (no codec), so the replay test needs no key and the corpus stays readable; the replay
  // test replays them through the platform's converter, which passes unencrypted payloads through.
  // Ledger faults for the paths that need one: how many more times the ledger answers a
  // transfer id unexpectedly.
  const ledgerFaults = new Map<string, number>();
  const h = await startPaymentsHarness('record', {
    endpoints: { databaseUrl: stack.databaseUrl, temporalAddress: stack.temporalAddress },
    callbacks: true,
    data_converter: null,
    postings: (inner): TransferBatcher => ({
      ...inner,
      submit: async (transfers) => {
        const left = transfers[0] ? (ledgerFaults.get(transfers[0].id) ?? 0) : 0;
        if (left > 0 && transfers.length === 1) {
          ledgerFaults.set(transfers[0]!.id, left - 1);
          return [{ id: transfers[0]!.id, result: 'exists_with_different_amount' }];
        }
        return inner.submit(transfers);
      },
    }),
  });
  try {
    const account_id = await openCreditLine(h.ledger, { company_id: 'acme', currency: 'EUR', limit_minor: 50_000, grant_key: 'record' });
    const payout = (name: string, amount_minor: number, bank_account: string): PayoutRequest => ({
      payment_id: `record-${name}-${randomUUID().slice(0, 8)}`,
      company_id: 'acme',
      account_id,
      amount_minor,
      currency: 'EUR',
      payee: { name: 'Supplier GmbH', bank_account },
    });
    const save = async (name: string, payment_id: string, workflowId = paymentWorkflowId(payment_id)) => {
      const handle = h.client.workflow.getHandle(workflowId);
      // A card payment flagged for people stays open until they resolve it: as ops would.
      if (name.startsWith('card-')) {
        const open = await handle.query(getPaymentQuery);
        if (open.needs_attention && open.status !== 'AUTHORIZED') {
          await handle.executeUpdate(resolveAttentionUpdate, {
            args: [{ operator: 'ops@record', reason: 'recorded for the replay corpus' }],
          });
        }
      }
      const state = await handle.result();
      const history = await handle.fetchHistory();
      const file = path.join(HISTORIES_DIR, `${name}.json`);
      writeFileSync(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`);
      log(`${name}: ${(state as { status: string }).status}, ${history.events?.length ?? 0} events -> ${path.relative(REPO_ROOT, file)}`);
    };

    const payouts: Array<[string, PayoutRequest]> = [
      ['payout-settled', payout('settled', 12_345, 'DE89370400440532013000')],
      ['payout-declined', payout('declined', 50_001, 'DE89370400440532013000')],
      ['payout-compensated', payout('compensated', 20_000, `${REJECTED_ACCOUNT_PREFIX}0000000042`)],
    ];
    for (const [name, request] of payouts) {
      if (!wanted(name)) continue;
      await startPayout(h.client, request, h.task_queue);
      await save(name, request.payment_id);
    }

    // The bank's other answers (src/settlement/gateway.ts), scripted per idempotency key, and the
    // ledger faults and ops actions around them.
    const ok = 'DE89370400440532013000';
    const by = { operator: 'record.ops', reason: 'recording the replay corpus' };
    const key = (p: PayoutRequest) => payoutIdempotencyKey(p.payment_id);
    const accepted = { status: 202, body: { status: 'accepted' } };
    const timeline = async (p: PayoutRequest, event: string) =>
      (await getPayment(h.client, p.payment_id)).timeline.some((e) => e.event === event);
    const confirm = async (p: PayoutRequest, bank_reference: string) => {
      const answer = await postCallback(h, { idempotency_key: key(p), status: 'settled', bank_reference });
      if (answer.status !== 200) throw new Error(`callback for ${p.payment_id} answered ${answer.status}`);
    };
    const answers: Array<[string, (p: PayoutRequest) => Promise<void>, number?, string?]> = [
      // 409 (in progress) and 503 are retried inside the send activity with the same key.
      ['payout-retried-409-5xx', async (p) => void h.simulator.script(key(p), [{ status: 409 }, { status: 503 }])],
      // 401: flagged, sent again after a pause, settled.
      ['payout-credentials-refused', async (p) => void h.simulator.script(key(p), [{ status: 401 }, { status: 401 }])],
      // A final rejection at once (422 saying rejected): compensated.
      [
        'payout-rejected-at-once',
        async (p) => void h.simulator.script(key(p), [{ status: 422, body: { status: 'rejected', reason: 'payee_unknown' } }]),
      ],
      // Paid, then the booking fails twice: flagged, retried, settled; nothing compensated.
      ['payout-settled-booking-failed', async (p) => void ledgerFaults.set(payoutTransferIds(p.payment_id).settlement, 2)],
      // Paid, the booking keeps failing: ops book it with retrySettlement.
      [
        'payout-retry-settlement-after-confirmation',
        async (p) => {
          ledgerFaults.set(payoutTransferIds(p.payment_id).settlement, 1_000);
          await eventually('the booking flagged', () => timeline(p, 'settlement_booking_failed'));
          ledgerFaults.delete(payoutTransferIds(p.payment_id).settlement);
          await retrySettlement(h.client, p.payment_id, by);
        },
      ],
      // The confirmation arrives while the send is still being retried (503s): it settles.
      [
        'payout-confirmed-during-retries',
        async (p) => {
          h.simulator.script(
            key(p),
            Array.from({ length: 60 }, () => ({ status: 503 })),
          );
          await eventually('the send retried', async () => (h.simulator.requests.get(key(p)) ?? 0) >= 2);
          await confirm(p, 'BANK-record-during-retries');
        },
      ],
      // The bank rejects (callback); reversing the posting fails twice: flagged, retried, compensated.
      [
        'payout-compensation-retried',
        async (p) => void ledgerFaults.set(payoutTransferIds(p.payment_id).reversal, 2),
        3_000,
        'REJECT0000000077',
      ],
      // The bank accepts and goes silent: the attention timer fires, ops send again and resolve the
      // flag, then the confirmation comes.
      [
        'payout-attention-retry-resolve',
        async (p) => {
          h.simulator.script(key(p), [accepted, accepted]);
          await eventually('the settlement_waiting flag', () => timeline(p, 'settlement_waiting'));
          await retrySettlement(h.client, p.payment_id, by);
          await resolveAttention(h.client, p.payment_id, by);
          await confirm(p, 'BANK-record-attention');
        },
      ],
    ];
    for (const [name, drive, amount_minor = 1_500, bank_account = ok] of answers) {
      if (!wanted(name)) continue;
      const request = payout(name.slice('payout-'.length), amount_minor, bank_account);
      const options = name === 'payout-attention-retry-resolve' ? { settlement_attention_after_ms: 300 } : undefined;
      await startPayout(h.client, request, h.task_queue, options);
      await drive(request);
      await save(name, request.payment_id);
    }

    // Card purchases: one per row of DESIGN.md section 5's table, with short timers so that
    // every history runs to completion.
    const card_account = await openCreditLine(h.ledger, {
      company_id: 'acme-cards',
      currency: 'USD',
      limit_minor: 100_000,
      grant_key: 'record',
    });
    await h.cards.issue({
      card_id: 'record-card',
      company_id: 'acme-cards',
      currency: 'USD',
      account_id: card_account,
      blocked_mccs: ['7995'],
    });
    // The production timings, but for expiry: payments close at their final state (linger_ms 0).
    const quick = { ...DEFAULT_CARD_OPTIONS, hold_expiry_ms: 60_000 };
    const opts: CardClientOptions = { task_queue: h.task_queue, workflow: quick };
    const late: CardClientOptions = { task_queue: h.task_queue, workflow: { ...quick, decision_margin_ms: 60_000 } };
    const adviseStandIn = (p: CardPayment, stand_in: 'decline' | 'approve', o: CardClientOptions) =>
      h.client.workflow.signalWithStart('cardPaymentWorkflow', {
        workflowId: paymentWorkflowId(p.payment_id),
        taskQueue: o.task_queue,
        args: cardWorkflowArgs(p, o.workflow),
        signal: standInAdviceSignal,
        signalArgs: [{ stand_in }],
        typedSearchAttributes: cardStartAttributes(p),
      });
    // As the API authorizes: the card's company (read for tenancy) goes to the payment's start.
    const authorizeCardPayment = async (...[client, p, a, o]: Parameters<typeof authorizeAsClient>) =>
      authorizeAsClient(client, p, a, o, { company_id: (await h.cards.get(p.card_id))?.company_id });
    const purchase = (name: string, mcc = '5411'): CardPayment => ({
      payment_id: `record-${name}-${randomUUID().slice(0, 8)}`,
      card_id: 'record-card',
      currency: 'USD',
      merchant: { mcc, name: 'Record Merchant' },
    });
    const auth = (amount_minor: number, stand_in: 'decline' | 'approve' = 'decline') => ({
      amount_minor,
      deadline_at_ms: Date.now() + 10_000,
      stand_in,
    });
    const cards: Array<[string, (p: CardPayment) => Promise<unknown>, string?]> = [
      [
        'card-cleared',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(2_500), opts);
          await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 2_500 }, opts);
        },
      ],
      ['card-declined', (p) => authorizeCardPayment(h.client, p, auth(500), opts), '7995'],
      ['card-late-stand-in-decline', (p) => authorizeCardPayment(h.client, p, auth(1_000, 'decline'), late)],
      [
        'card-late-stand-in-approve',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(1_000, 'approve'), late);
          await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_000 }, late);
        },
      ],
      [
        'card-increment-cleared',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(4_000), opts);
          await incrementCardPayment(h.client, p.payment_id, { event_id: 'i1', amount_minor: 1_000 });
          await incrementCardPayment(h.client, p.payment_id, { event_id: 'i2', amount_minor: 900_000 });
          await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 5_500 }, opts);
        },
        '7011',
      ],
      [
        'card-reversed',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(3_000), opts);
          await reverseCardPayment(h.client, p.payment_id, { event_id: 'r1', amount_minor: 1_000 });
          await reverseCardPayment(h.client, p.payment_id, { event_id: 'r2' });
        },
      ],
      [
        'card-multiple-clearings',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(6_000), opts);
          await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 2_000, final: false }, opts);
          await clearCardPayment(h.client, p, { event_id: 'c2', amount_minor: 4_500, final: true }, opts);
        },
        '5812',
      ],
      [
        'card-expired-then-force-post',
        async (p) => {
          const expiring: CardClientOptions = { task_queue: h.task_queue, workflow: { ...quick, hold_expiry_ms: 300, linger_ms: 3_000 } };
          await authorizeCardPayment(h.client, p, auth(2_000), expiring);
          await new Promise((r) => setTimeout(r, 1_500));
          await clearCardPayment(h.client, p, { event_id: 'c-late', amount_minor: 2_000 }, expiring);
        },
      ],
      ['card-force-post', (p) => clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 700 }, opts)],
      [
        'card-stand-in-advice-after-decision',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(1_500), opts);
          await adviseStandIn(p, 'decline', opts);
        },
      ],
      [
        'card-stand-in-advice-first',
        async (p) => {
          await adviseStandIn(p, 'decline', opts);
          await authorizeCardPayment(h.client, p, auth(1_500), opts);
        },
      ],
      [
        'card-ops-void-hold-resolve-attention',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(1_000, 'approve'), late);
          const handle = h.client.workflow.getHandle(paymentWorkflowId(p.payment_id));
          const by = { operator: 'ops@record', reason: 'recorded for the replay corpus' };
          await handle.executeUpdate(voidHoldUpdate, { args: [by] });
          await handle.executeUpdate(resolveAttentionUpdate, { args: [by] });
        },
      ],
      [
        'card-continued-as-new',
        async (p) => {
          const short: CardClientOptions = { task_queue: h.task_queue, workflow: { ...quick, continue_as_new_after_events: 20 } };
          await authorizeCardPayment(h.client, p, auth(1_000), short);
          for (const id of ['i1', 'i2', 'i3']) await incrementCardPayment(h.client, p.payment_id, { event_id: id, amount_minor: 100 });
          await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_300 }, short);
        },
      ],
      [
        'card-refunded',
        async (p) => {
          await authorizeCardPayment(h.client, p, auth(3_000), opts);
          await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 3_000 }, opts);
          await refundCardPayment(h.client, p, { event_id: 'r1', amount_minor: 1_000 }, opts);
          await refundCardPayment(h.client, p, { event_id: 'r2', amount_minor: 2_000 }, opts);
        },
      ],
    ];
    // Driven even when not recorded: network settlement's USD cycle is these payments, which the
    // network never heard of (its mismatch).
    for (const [name, drive, mcc] of cards) {
      const p = purchase(name, mcc);
      await drive(p);
      if (!wanted(name)) continue;
      await save(name, p.payment_id);
      if (name === 'card-continued-as-new') {
        // The first run too: the one that continued as new.
        const described = await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).describe();
        const first = described.raw.workflowExecutionInfo?.firstRunId;
        if (first) {
          const history = await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id), first).fetchHistory();
          writeFileSync(
            path.join(HISTORIES_DIR, 'card-continued-as-new-first-run.json'),
            `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`,
          );
        }
      }
    }

    // Network settlement: a cycle the network's report matches (GBP), and one it does not (USD:
    // the card paths above were never reported by the network).
    const gbp_account = await openCreditLine(h.ledger, {
      company_id: 'acme-gbp',
      currency: 'GBP',
      limit_minor: 100_000,
      grant_key: 'record',
    });
    await h.cards.issue({ card_id: 'record-card-gbp', company_id: 'acme-gbp', currency: 'GBP', account_id: gbp_account });
    const gbp: CardPayment = {
      payment_id: `record-gbp-${randomUUID().slice(0, 8)}`,
      card_id: 'record-card-gbp',
      currency: 'GBP',
      merchant: { mcc: '5411', name: 'Record Merchant' },
    };
    await authorizeCardPayment(h.client, gbp, { ...auth(4_200), stand_in: 'decline' }, opts);
    await clearCardPayment(h.client, gbp, { event_id: 'c1', amount_minor: 4_200 }, opts);
    await createHttpCardNetwork(h.simulator.url).record([
      { record_id: `${gbp.payment_id}:c1`, kind: 'clearing', currency: 'GBP', amount_minor: 4_200, at: new Date().toISOString() },
    ]);
    const LAG_MS = 200;
    const { rows } = await h.pool.query<{ end_at: Date }>(
      `SELECT date_trunc('milliseconds', clock_timestamp()) + interval '1 millisecond' AS end_at`,
    );
    await new Promise((r) => setTimeout(r, LAG_MS + 50));
    const cycle_end = rows[0]!.end_at.toISOString();
    for (const [name, currency] of [
      ['network-settlement-matched', 'GBP'],
      ['network-settlement-mismatched', 'USD'],
    ] as const) {
      if (!wanted(name)) continue;
      const workflowId = `record-${name}-${randomUUID().slice(0, 8)}`;
      await h.client.workflow.start<typeof networkSettlementWorkflow>('networkSettlementWorkflow', {
        taskQueue: h.task_queue,
        workflowId,
        args: [{ cycle_end, currencies: [currency], lag_ms: LAG_MS }],
      });
      await save(name, workflowId, workflowId);
    }
    // A cycle stuck on a retryable error (a transaction open across its end keeps netting "not
    // due"): the run flags NeedsAttention after attention_after_ms, then settles once it commits.
    if (wanted('network-settlement-stuck')) {
      const workflowId = `record-network-settlement-stuck-${randomUUID().slice(0, 8)}`;
      const straggler = await h.pool.connect();
      try {
        await straggler.query('BEGIN');
        await straggler.query('SELECT 1');
        const { rows: stuckRows } = await h.pool.query<{ end_at: Date }>(
          `SELECT date_trunc('milliseconds', clock_timestamp()) + interval '1 millisecond' AS end_at`,
        );
        await new Promise((r) => setTimeout(r, LAG_MS + 50));
        const handle = await h.client.workflow.start<typeof networkSettlementWorkflow>('networkSettlementWorkflow', {
          taskQueue: h.task_queue,
          workflowId,
          args: [{ cycle_end: stuckRows[0]!.end_at.toISOString(), currencies: ['GBP'], lag_ms: LAG_MS, attention_after_ms: 1_000 }],
        });
        for (let attempt = 0; attempt < 150 && !(await handle.query(getNetworkSettlementQuery)).needs_attention; attempt += 1) {
          await new Promise((r) => setTimeout(r, 100));
        }
        await straggler.query('COMMIT');
      } finally {
        straggler.release();
      }
      await save('network-settlement-stuck', workflowId, workflowId);
    }

    // Billing (one run per statement; each continues as new at the next close): the first run of
    // each company is the recorded path. All play at once, with seconds-long cycles.
    const billingPaths: Array<{ name: string; spend: number; mandate?: string; act?: (company_id: string) => Promise<void> }> = [
      { name: 'billing-paid-at-close', spend: 0 },
      { name: 'billing-direct-debit-paid', spend: 7_000, mandate: 'GB33BUKB20201555555555' },
      { name: 'billing-direct-debit-returned', spend: 7_000, mandate: `${RETURNED_DEBIT_ACCOUNT_PREFIX}0001` },
      {
        name: 'billing-minimum-paid',
        spend: 8_000,
        act: (company_id) =>
          recordRepayment(h.client, company_id, 'EUR', { idempotency_key: 'record-part', amount_minor: 1_000 }).then(() => undefined),
      },
      {
        name: 'billing-past-due-then-paid',
        spend: 6_000,
        act: async (company_id) => {
          await eventually('past due', async () => (await getBilling(h.client, company_id, 'EUR')).lifecycle.frozen);
          await recordRepayment(h.client, company_id, 'EUR', { idempotency_key: 'record-late', amount_minor: 6_000 });
        },
      },
    ];
    await Promise.all(
      billingPaths
        .filter((b) => wanted(b.name))
        .map(async ({ name, spend, mandate, act }) => {
          const company_id = `record-${name}-${randomUUID().slice(0, 6)}`;
          const line = await openCreditLine(h.ledger, { company_id, currency: 'EUR', limit_minor: 50_000, grant_key: 'record' });
          const start_ms = Date.now() - 1_000;
          if (spend > 0) {
            const request = { ...payout(name, spend, 'DE89370400440532013000'), company_id, account_id: line };
            const { handle } = await startPayout(h.client, request, h.task_queue);
            await handle.result();
          }
          await startBilling(
            h.client,
            {
              company_id,
              currency: 'EUR',
              billing_start: new Date(start_ms).toISOString(),
              policy: {
                cycle: { kind: 'fixed', length_ms: Date.now() - start_ms + 4_000 },
                due_after_ms: 1_000,
                grace_ms: 2_000,
                cutoff_lag_ms: 100,
                minimum_due_percent: 10,
                late_fee_minor: 500,
                direct_debit: mandate ? { debtor_name: 'Record Ltd', bank_account: mandate } : null,
              },
            },
            h.task_queue,
          );
          const workflowId = billingWorkflowId(company_id, 'EUR');
          const first = await h.client.workflow.getHandle(workflowId).describe();
          await eventually(
            `${name}: the statement`,
            async () => (await getBilling(h.client, company_id, 'EUR')).lifecycle.statement !== null,
          );
          await act?.(company_id);
          const run = h.client.workflow.getHandle(workflowId, first.runId);
          await eventually(
            `${name}: the run continued as new`,
            async () => (await run.describe()).status.name === 'CONTINUED_AS_NEW',
            120_000,
          );
          const history = await run.fetchHistory();
          await h.client.workflow.getHandle(workflowId).cancel();
          const file = path.join(HISTORIES_DIR, `${name}.json`);
          writeFileSync(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`);
          log(`${name}: ${history.events?.length ?? 0} events -> ${path.relative(REPO_ROOT, file)}`);
        }),
    );
    // Disputes (CHF, away from the settlement cycles above): every path to an outcome, driven by
    // the network's answers through the same functions the API uses.
    if (disputePathsWanted()) {
      const chf_account = await openCreditLine(h.ledger, {
        company_id: 'acme-chf',
        currency: 'CHF',
        limit_minor: 100_000,
        grant_key: 'record',
      });
      await h.cards.issue({ card_id: 'record-card-chf', company_id: 'acme-chf', currency: 'CHF', account_id: chf_account });
      const SLOW = { representment_window_ms: 3_600_000, arbitration_window_ms: 3_600_000 };
      const FAST = { representment_window_ms: 1_000, arbitration_window_ms: 1_000 };
      const disputePaths: Array<
        [
          string,
          {
            amount_minor: number;
            workflow?: typeof SLOW;
            before?: (payment_id: string, dispute_id: string) => void;
            drive: (dispute_id: string, p: CardPayment) => Promise<void>;
          },
        ]
      > = [
        [
          'dispute-won-accepted',
          { amount_minor: 1_000, drive: async (id) => void (await recordNetworkResponse(h.client, id, { response: 'merchant_accepted' })) },
        ],
        ['dispute-won-silence', { amount_minor: 1_000, workflow: FAST, drive: async () => undefined }],
        [
          'dispute-pre-arbitration-won',
          {
            amount_minor: 1_000,
            drive: async (id) => {
              await recordNetworkResponse(h.client, id, { response: 'merchant_represented', detail: 'proof of delivery' });
              await recordNetworkResponse(h.client, id, { response: 'arbitration_won' });
            },
          },
        ],
        [
          'dispute-pre-arbitration-overdue-lost',
          {
            amount_minor: 1_000,
            workflow: { representment_window_ms: 3_600_000, arbitration_window_ms: 1_000 },
            drive: async (id) => {
              await recordNetworkResponse(h.client, id, { response: 'merchant_represented' });
              await eventually('arbitration_overdue', async () => (await getDispute(h.client, id)).needs_attention);
              await recordNetworkResponse(h.client, id, { response: 'arbitration_lost' });
            },
          },
        ],
        ['dispute-withdrawn', { amount_minor: 600, drive: async (id) => void (await withdrawDispute(h.client, id, 'the goods arrived')) }],
        [
          'dispute-refund-reduced-withdrawn',
          {
            amount_minor: 800,
            drive: async (id, p) => {
              await refundCardPayment(h.client, p, { event_id: 'r1', amount_minor: 300 }, opts);
              // As the API does after a refund (it finds the open disputes through visibility).
              await h.client.workflow.getHandle(disputeWorkflowId(id)).signal(refundBookedSignal);
              await eventually('the refund reconciled', async () => (await getDispute(h.client, id)).open_minor === 700);
              await refundCardPayment(h.client, p, { event_id: 'r2', amount_minor: 700 }, opts);
              await recordNetworkResponse(h.client, id, { response: 'merchant_accepted' }).catch(() => undefined);
            },
          },
        ],
        [
          'dispute-chargeback-refused',
          {
            amount_minor: 500,
            // The network already holds another filing under this dispute's id: it refuses (422).
            before: (_payment_id, id) => void h.simulator.network.disputeFilings.set(`${id} chargeback`, '{}'),
            drive: async () => undefined,
          },
        ],
        ['dispute-refused-over-amount', { amount_minor: 1_001, drive: async () => undefined }],
      ];
      for (const [name, path_] of disputePaths) {
        if (!wanted(name)) continue;
        const p: CardPayment = {
          payment_id: `record-${name}-${randomUUID().slice(0, 8)}`,
          card_id: 'record-card-chf',
          currency: 'CHF',
          merchant: { mcc: '5411', name: 'Record Merchant' },
        };
        await authorizeCardPayment(h.client, p, { ...auth(1_000), stand_in: 'decline' }, opts);
        await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_000 }, opts);
        const dispute_id = disputeId(p.payment_id, 'record');
        path_.before?.(p.payment_id, dispute_id);
        // Started as the API starts it, past the API's own amount check (the ledger refuses).
        await h.client.workflow.start('disputeWorkflow', {
          workflowId: disputeWorkflowId(dispute_id),
          taskQueue: h.task_queue,
          args: [
            {
              payment_id: p.payment_id,
              idempotency_key: 'record',
              reason: 'not_received',
              amount_minor: path_.amount_minor,
              evidence: 'recorded for the replay corpus',
              dispute_id,
              company_id: 'acme-chf',
              account_id: chf_account,
              currency: 'CHF',
            },
            path_.workflow ?? SLOW,
          ],
        });
        await eventually('the dispute opened', async () => (await getDispute(h.client, dispute_id)).status !== 'OPENING');
        await path_.drive(dispute_id, p);
        await save(name, p.payment_id, disputeWorkflowId(dispute_id));
      }
    }
    // Webhook delivery (src/workflows/webhook-delivery.ts): an endpoint that fails twice, then
    // takes a purchase's two events, then is deleted; and one that never answers 2xx, disabled.
    const endpoints = createEndpointStore(h.pool, testKeyRing());
    const fastDelivery = {
      batch_size: 10,
      wait_for_events_ms: 500,
      retry_initial_ms: 100,
      retry_max_ms: 400,
      give_up_after_ms: 2_000,
      events_per_run_max: 500,
    };
    for (const [name, failures] of [
      ['webhook-retried-delivered-deleted', 2],
      ['webhook-disabled', Number.MAX_SAFE_INTEGER],
    ] as const) {
      if (!wanted(name)) continue;
      const received: string[] = [];
      let left: number = failures;
      const receiver = await startWebhookReceiver({
        host: '127.0.0.1',
        port: 0,
        on_event: (e) => {
          if (left > 0) {
            left -= 1;
            throw new Error('endpoint down');
          }
          received.push(e.webhook_id);
        },
      });
      try {
        const { endpoint, secret } = await endpoints.create({ company_id: 'acme-cards', url: receiver.url, event_types: ['*'] });
        receiver.setSecret(secret);
        const handle = await startWebhookDelivery(h.client, endpoint, h.task_queue, fastDelivery);
        const p = purchase(name);
        await authorizeCardPayment(h.client, p, auth(300), opts);
        await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 300 }, opts);
        if (failures < Number.MAX_SAFE_INTEGER) {
          await eventually(`${name}: two deliveries`, async () => received.length >= 2);
          await endpoints.setStatus(endpoint.endpoint_id, 'deleted', null);
        }
        await handle.result();
        await save(name, endpoint.endpoint_id, handle.workflowId);
      } finally {
        await receiver.close();
      }
    }
    // A payment still running the legacy card workflow (started before patched('card-decider'))
    // whose changes now write events (patched('legacy-card-events')): run on that code as a type of
    // its own (test/support/legacy-workflows.ts), saved under the type such a payment has,
    // cardPaymentWorkflow, whose replay takes the legacy path (no card-decider marker).
    if (wanted('card-legacy-events')) {
      const bundlePath = path.join(scratch, 'legacy-workflows.js');
      const { code } = await bundleWorkflowCode({
        workflowsPath: path.join(REPO_ROOT, 'test', 'support', 'legacy-workflows.ts'),
        failureConverterPath: FAILURE_CONVERTER_PATH,
        logger: undefined,
      });
      writeFileSync(bundlePath, code);
      const legacy = await startPaymentsHarness('record-legacy', {
        endpoints: { databaseUrl: stack.databaseUrl, temporalAddress: stack.temporalAddress, workflowBundlePath: bundlePath },
        data_converter: null,
      });
      try {
        const line = await openCreditLine(legacy.ledger, {
          company_id: 'acme-legacy',
          currency: 'USD',
          limit_minor: 50_000,
          grant_key: 'record',
        });
        await legacy.cards.issue({
          card_id: 'record-card',
          company_id: 'acme-legacy',
          currency: 'USD',
          account_id: line,
          transaction_limit_minor: null,
          blocked_mccs: [],
        });
        const p = purchase('card-legacy-events');
        const handle = await legacy.client.workflow.start('legacyCardPaymentWorkflow', {
          workflowId: paymentWorkflowId(p.payment_id),
          taskQueue: legacy.task_queue,
          args: [p, quick],
        });
        // Authorized, posted in part, refunded in part, settled by the final clearing: four events.
        await handle.executeUpdate(authorizeUpdate, { args: [auth(2_500)] });
        await handle.executeUpdate(clearUpdate, { args: [{ event_id: 'c1', amount_minor: 1_500, final: false }] });
        await handle.executeUpdate(refundUpdate, { args: [{ event_id: 'r1', amount_minor: 500 }] });
        await handle.executeUpdate(clearUpdate, { args: [{ event_id: 'c2', amount_minor: 1_000 }] });
        const state = (await handle.result()) as { status: string };
        const history = JSON.parse(historyToJSON(await handle.fetchHistory())) as {
          events: Array<{ workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }>;
        };
        const started = history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType;
        if (started?.name !== 'legacyCardPaymentWorkflow') throw new Error('card-legacy-events: not a legacy run');
        started.name = 'cardPaymentWorkflow';
        const file = path.join(HISTORIES_DIR, 'card-legacy-events.json');
        writeFileSync(file, `${JSON.stringify(history, null, 2)}\n`);
        log(`card-legacy-events: ${state.status}, ${history.events.length} events -> ${path.relative(REPO_ROOT, file)}`);
      } finally {
        await legacy.close();
      }
    }
  } finally {
    await h.close();
  }
} finally {
  await stack.close();
  rmSync(scratch, { recursive: true, force: true });
}
