// `npm run histories:record`: runs every payment path once against a real Postgres and Temporal
// server, and saves each workflow's history under test/histories/, where the replay test
// (test/unit/replay.test.ts) replays them against the current workflow code. Re-record only on
// purpose: the recorded histories are what proves that old payments still replay.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import {
  authorizeCardPayment,
  clearCardPayment,
  incrementCardPayment,
  refundCardPayment,
  reverseCardPayment,
  type CardClientOptions,
} from '../src/api/card-payments.js';
import { startPayout } from '../src/api/payments.js';
import { REPO_ROOT } from '../src/config.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment } from '../src/domain/card.js';
import { paymentWorkflowId, type PayoutRequest } from '../src/domain/payment.js';
import { openCreditLine } from '../src/ledger/accounts.js';
import { createHttpCardNetwork } from '../src/settlement/network-client.js';
import { REJECTED_ACCOUNT_PREFIX } from '../src/settlement/simulator.js';
import type { networkSettlementWorkflow } from '../src/workflows/network-settlement.js';
import { getNetworkSettlementQuery } from '../src/workflows/network-settlement-messages.js';
import { startPaymentsHarness } from './support/payments.js';
import { startTestStack } from './support/stack.js';

export const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
const log = (msg: string) => console.error(`[histories:record] ${msg}`);

/** `npm run histories:record -- <word>` records only the histories whose name contains the word
 * (e.g. `network-settlement`), so a change to one workflow re-records only that workflow's files. */
const only = process.argv[2];
const wanted = (name: string) => only === undefined || name.includes(only);

const scratch = path.join(REPO_ROOT, '.tmp', `record-${process.pid}`);
mkdirSync(scratch, { recursive: true });
const stack = await startTestStack(scratch, log);
try {
  // Payouts are confirmed by the bank's callback, as under `npm start`. Payloads are recorded in
  // clear (no codec), so the replay test needs no key and the corpus stays readable; the replay
  // test replays them through the platform's converter, which passes unencrypted payloads through.
  const h = await startPaymentsHarness('record', {
    endpoints: { databaseUrl: stack.databaseUrl, temporalAddress: stack.temporalAddress },
    callbacks: true,
    data_converter: null,
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
    const quick = { ...DEFAULT_CARD_OPTIONS, linger_ms: 500, hold_expiry_ms: 60_000 };
    const opts: CardClientOptions = { task_queue: h.task_queue, workflow: quick };
    const late: CardClientOptions = { task_queue: h.task_queue, workflow: { ...quick, decision_margin_ms: 60_000 } };
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
      if (wanted(name)) await save(name, p.payment_id);
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
  } finally {
    await h.close();
  }
} finally {
  await stack.close();
  rmSync(scratch, { recursive: true, force: true });
}
