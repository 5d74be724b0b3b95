// Card payment tests' common set-up: a payments harness for the file (started before its tests,
// closed after), the ledger checked after every test (the verifier, and every payment the test
// touched against its transfers), and the cardholders, purchases and waits the scenarios use.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before } from 'node:test';
import { getPayment } from '../../src/api/payments.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment, type CardWorkflowOptions } from '../../src/domain/card.js';
import type { PaymentState } from '../../src/domain/payment.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { checkPaymentAgainstLedger } from '../../src/ledger/payment-check.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startPaymentsHarness, type HarnessOptions, type PaymentsHarness } from './payments.js';

/** Payments stay open a minute after their final state: later messages still reach the run. */
export const FAST: CardWorkflowOptions = { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 };

/** How long `eventually` waits for a payment's state by default. */
const EVENTUALLY_MS_DEFAULT = 20_000;

export interface CardTestHarness {
  /** The file's payments harness (once its `before` has run). */
  harness(): PaymentsHarness;
  /** The harness, once started: a file's own `before` awaits it. */
  started(): Promise<PaymentsHarness>;
  /** Payments the running test made: checked against the ledger after it (pop one that has no workflow). */
  touched: string[];
  /** A company with a credit line of `limit_minor` USD and a card on it. */
  cardholder(
    limit_minor: number,
    rules?: { transaction_limit_minor?: number; blocked_mccs?: string[] },
  ): Promise<{ company_id: string; account_id: string; card_id: string }>;
  /** A new purchase on the card (touched). */
  purchase(card_id: string, mcc?: string): CardPayment;
  /** An authorization whose deadline is ten seconds away. */
  inTime(
    amount_minor: number,
    stand_in?: 'decline' | 'approve',
  ): { amount_minor: number; deadline_at_ms: number; stand_in: 'decline' | 'approve' };
  /** The card client's options: this harness's task queue and the workflow's timings. */
  opts(workflow?: CardWorkflowOptions): { task_queue: string; workflow: CardWorkflowOptions };
  /** The payment's state once `check` holds; fails with the last state after `timeout_ms`. */
  eventually(payment_id: string, check: (s: PaymentState) => boolean, timeout_ms?: number): Promise<PaymentState>;
}

/** Starts the harness in a `before` hook; the promise settles with it (or its start's failure). */
function startedHarness(label: string, options: HarnessOptions, ready: (h: PaymentsHarness) => void): Promise<PaymentsHarness> {
  return new Promise((resolve, reject) => {
    before(async () => {
      try {
        const h = await startPaymentsHarness(label, options);
        ready(h);
        resolve(h);
      } catch (err) {
        reject(err);
        throw err;
      }
    });
  });
}

/** Registers the file's hooks (call it at the top level of a test file) and returns its helpers. */
export function cardTestHarness(label: string, options: HarnessOptions = {}): CardTestHarness {
  let h: PaymentsHarness | null = null;
  const harness = (): PaymentsHarness => {
    assert.ok(h, `the ${label} harness is not started (used outside a test?)`);
    return h;
  };
  const touched: string[] = [];
  // The file's own hooks wait for this, whatever order the runner gives the hooks.
  const started = startedHarness(label, options, (ready) => (h = ready));
  after(async () => {
    await h?.close();
  });
  // Invariants 1-4 after every scenario, and invariant 5 for every payment it touched.
  afterEach(async () => {
    const report = await verifyLedger(harness().pool);
    assert.ok(report.ok, JSON.stringify(report.violations));
    for (const payment_id of touched.splice(0)) {
      const state = await getPayment(harness().client, payment_id);
      assert.equal(await checkPaymentAgainstLedger(harness().ledger, state), null, payment_id);
    }
  });
  return {
    harness,
    started: () => started,
    touched,
    async cardholder(limit_minor, rules = {}) {
      const { ledger, cards } = harness();
      const company_id = `co-${randomUUID().slice(0, 8)}`;
      const account_id = await openCreditLine(ledger, { company_id, currency: 'USD', limit_minor, grant_key: 'initial' });
      const card = await cards.issue({
        card_id: `card-${randomUUID().slice(0, 8)}`,
        company_id,
        currency: 'USD',
        account_id,
        transaction_limit_minor: rules.transaction_limit_minor ?? null,
        blocked_mccs: rules.blocked_mccs ?? [],
      });
      return { company_id, account_id, card_id: card.card_id };
    },
    purchase(card_id, mcc = '5411') {
      const payment: CardPayment = {
        payment_id: `txn-${randomUUID()}`,
        card_id,
        currency: 'USD',
        merchant: { mcc, name: 'Corner Grocery' },
      };
      touched.push(payment.payment_id);
      return payment;
    },
    inTime: (amount_minor, stand_in = 'decline') => ({ amount_minor, deadline_at_ms: Date.now() + 10_000, stand_in }),
    opts: (workflow = FAST) => ({ task_queue: harness().task_queue, workflow }),
    async eventually(payment_id, check, timeout_ms = EVENTUALLY_MS_DEFAULT) {
      const until = Date.now() + timeout_ms;
      for (;;) {
        const s = await getPayment(harness().client, payment_id);
        if (check(s)) return s;
        if (Date.now() > until) assert.fail(`payment ${payment_id} never reached the expected state: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
