// `npm run demo -- --payments N [--json]`: drives N payments through the running platform, card
// purchases and payouts in a mix that reaches every final state (a purchase cleared, declined,
// reversed, expired, refunded or force posted; a payout settled, declined over its credit line or
// compensated after the payee's bank rejects it), shows progress, prints a summary table, checks
// the ledger, and exits 0 only if every payment reached the final state its path should reach and
// every invariant holds.
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import { authorizeCardPayment, clearCardPayment, refundCardPayment, reverseCardPayment } from '../api/card-payments.js';
import { getPayment, startPayout } from '../api/payments.js';
import { createCardStore } from '../cards/cards.js';
import { loadConfig } from '../config.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment } from '../domain/card.js';
import { isTerminal, type PaymentState, type PaymentStatus, type PayoutRequest } from '../domain/payment.js';
import { openCreditLine } from '../ledger/accounts.js';
import { createPool, type Pool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { checkPaymentAgainstLedger } from '../ledger/payment-check.js';
import { formatVerifyReport, verifyLedger } from '../ledger/verify.js';
import { REJECTED_ACCOUNT_PREFIX } from '../settlement/simulator.js';
import { resolveEndpoints } from '../stack/stack-file.js';
import { loadDataConverter } from '../codec/data-converter.js';

const PAYMENTS_MAX = 100_000;
/** The network's decision deadline the demo plays (Stripe's is 2 s). */
const AUTHORIZATION_DEADLINE_MS = 2_000;
/** Demo holds meant to expire do so after this long, not after days. */
const DEMO_HOLD_EXPIRY_MS = 3_000;
/** Demo card payments close this long after their final state (production: months). */
const DEMO_CARD_LINGER_MS = 10 * 60 * 1000;
const CONCURRENCY_MAX = 500;

function positiveInt(max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    return n;
  };
}

const program = new Command('demo')
  .description('Drive card purchases and payouts through the running platform and check the ledger afterwards.')
  .option('--payments <n>', 'how many payments to run', positiveInt(PAYMENTS_MAX), 20)
  .option('--concurrency <n>', 'payments in flight at once', positiveInt(CONCURRENCY_MAX), 20)
  .option('--timeout-s <s>', 'give up waiting after this many seconds', positiveInt(3600), 300)
  .option('--json', 'print one JSON summary object as the last line')
  .addHelpText('after', '\nNeeds a running platform (`npm start`), or TEMPORAL_ADDRESS and DATABASE_URL.');

/** Every path the demo drives, and the final state it must end in. */
const KINDS = {
  payout_settle: 'SETTLED',
  payout_decline: 'DECLINED',
  payout_compensate: 'COMPENSATED',
  card_clear: 'SETTLED',
  card_decline: 'DECLINED',
  card_reverse: 'REVERSED',
  card_expire: 'EXPIRED',
  card_refund: 'REFUNDED',
  card_force_post: 'SETTLED',
} as const satisfies Record<string, PaymentStatus>;
type Kind = keyof typeof KINDS;

/** The mix, repeating: mostly payments that go through, every final state in the first nine. */
const PATTERN: readonly Kind[] = [
  'card_clear',
  'payout_settle',
  'card_decline',
  'payout_decline',
  'card_reverse',
  'payout_compensate',
  'card_expire',
  'card_refund',
  'card_force_post',
  'card_clear',
  'payout_settle',
  'card_clear',
];

function kindOf(index: number): Kind {
  return PATTERN[index % PATTERN.length]!;
}

interface Outcome {
  payment_id: string;
  kind: Kind;
  state: PaymentState | null;
  error?: string;
}

/** Polls a payment's query until it is in a final state (card payments stay open after it, for
 * late clearings and refunds, so their workflow result is not what to wait for). */
async function waitForFinal(client: Client, payment_id: string, deadline_ms: number): Promise<PaymentState> {
  for (let attempt = 0; ; attempt += 1) {
    const state = await getPayment(client, payment_id);
    if (isTerminal(state.status)) return state;
    if (Date.now() > deadline_ms) throw new Error(`timed out waiting for a final state, payment is ${state.status}`);
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1_000)));
  }
}

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts<{ payments: number; concurrency: number; timeoutS: number; json?: boolean }>();
  const config = loadConfig();
  const endpoints = resolveEndpoints(config);
  const progress = (msg: string) => process.stderr.write(`${msg}\n`);

  const pool: Pool = createPool(endpoints.database, { connections_max: 5, application_name: 'demo' });
  const connection = await Connection.connect({ address: endpoints.temporal, connectTimeout: 5_000 });
  const client = new Client({ connection, namespace: endpoints.namespace, dataConverter: loadDataConverter(config) });
  try {
    const ledger = createLedger(pool);
    const cards = createCardStore(pool);
    const run = randomUUID().slice(0, 8);
    // A roomy credit line for payments that should go through, and a small one they overrun.
    const roomy = { company_id: `demo-${run}-acme`, limit_minor: 1_000_000_000 };
    const small = { company_id: `demo-${run}-tiny`, limit_minor: 1_000 };
    const roomyAccount = await openCreditLine(ledger, { ...roomy, currency: 'USD', grant_key: 'demo' });
    const smallAccount = await openCreditLine(ledger, { ...small, currency: 'USD', grant_key: 'demo' });
    const roomyCard = await cards.issue({
      card_id: `demo-${run}-card`,
      company_id: roomy.company_id,
      currency: 'USD',
      account_id: roomyAccount,
    });
    const smallCard = await cards.issue({
      card_id: `demo-${run}-tiny-card`,
      company_id: small.company_id,
      currency: 'USD',
      account_id: smallAccount,
    });
    // Card payments close a while after their final state (production keeps them open for months
    // for late clearings and refunds); the expiring ones expire within seconds.
    const cardOptions = { task_queue: endpoints.task_queue, workflow: { ...DEFAULT_CARD_OPTIONS, linger_ms: DEMO_CARD_LINGER_MS } };
    const expiringOptions = { ...cardOptions, workflow: { ...cardOptions.workflow, hold_expiry_ms: DEMO_HOLD_EXPIRY_MS } };

    const drive = async (kind: Kind, i: number): Promise<{ payment_id: string; state: PaymentState }> => {
      const payment_id = `demo-${run}-${String(i).padStart(6, '0')}`;
      const amount_minor = 1_000 + ((i * 7_919) % 99_000);
      if (kind.startsWith('payout_')) {
        const declined = kind === 'payout_decline';
        const request: PayoutRequest = {
          payment_id,
          company_id: declined ? small.company_id : roomy.company_id,
          account_id: declined ? smallAccount : roomyAccount,
          amount_minor: declined ? small.limit_minor + amount_minor : amount_minor,
          currency: 'USD',
          payee: {
            name: `Supplier ${i}`,
            bank_account:
              kind === 'payout_compensate' ? `${REJECTED_ACCOUNT_PREFIX}${String(i).padStart(8, '0')}` : `US${String(100_000_000 + i)}`,
          },
        };
        const { handle } = await startPayout(client, request, endpoints.task_queue, {
          settlement_attention_after_ms: config.PAYOUT_SETTLEMENT_ATTENTION_AFTER_MS,
        });
        return { payment_id, state: await handle.result() };
      }
      const purchase: CardPayment = {
        payment_id,
        card_id: kind === 'card_decline' ? smallCard.card_id : roomyCard.card_id,
        currency: 'USD',
        merchant: { mcc: i % 2 === 0 ? '5812' : '5411', name: `Merchant ${i % 17}` },
      };
      const authorize = (options = cardOptions) =>
        authorizeCardPayment(
          client,
          purchase,
          { amount_minor, deadline_at_ms: Date.now() + AUTHORIZATION_DEADLINE_MS, stand_in: 'decline' },
          options,
        );
      const clear = (amount: number) => clearCardPayment(client, purchase, { event_id: 'clearing-1', amount_minor: amount }, cardOptions);
      switch (kind) {
        case 'card_clear':
          await authorize();
          await clear(amount_minor);
          break;
        case 'card_decline':
          await authorize();
          break;
        case 'card_reverse':
          await authorize();
          await reverseCardPayment(client, payment_id, { event_id: 'reversal-1' });
          break;
        case 'card_expire':
          await authorize(expiringOptions);
          break;
        case 'card_refund':
          await authorize();
          await clear(amount_minor);
          await refundCardPayment(client, purchase, { event_id: 'refund-1', amount_minor }, cardOptions);
          break;
        case 'card_force_post':
          await clear(amount_minor);
          break;
      }
      return { payment_id, state: await waitForFinal(client, payment_id, deadline) };
    };

    progress(
      `demo run ${run}: ${opts.payments} payments (card purchases and payouts), ${opts.concurrency} at a time, against ${endpoints.temporal}${endpoints.ui ? ` (watch: ${endpoints.ui})` : ''}`,
    );
    const outcomes: Outcome[] = [];
    const deadline = Date.now() + opts.timeoutS * 1000;
    let next = 0;
    const ticker = setInterval(() => {
      const counts = new Map<string, number>();
      for (const o of outcomes) counts.set(o.state?.status ?? 'FAILED', (counts.get(o.state?.status ?? 'FAILED') ?? 0) + 1);
      progress(`  ${outcomes.length}/${opts.payments} finished  ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }, 1_000);
    const lane = async () => {
      while (next < opts.payments) {
        const i = next++;
        const kind = kindOf(i);
        try {
          const { payment_id, state } = await Promise.race([
            drive(kind, i),
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error('timed out waiting for a final state')), Math.max(deadline - Date.now(), 0)).unref(),
            ),
          ]);
          outcomes.push({ payment_id, kind, state });
        } catch (err) {
          const message = err instanceof WorkflowFailedError ? `workflow failed: ${err.cause?.message}` : (err as Error).message;
          outcomes.push({ payment_id: `demo-${run}-${String(i).padStart(6, '0')}`, kind, state: null, error: message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.payments) }, lane));
    clearInterval(ticker);

    const byStatus: Record<string, number> = {};
    for (const o of outcomes) byStatus[o.state?.status ?? 'FAILED'] = (byStatus[o.state?.status ?? 'FAILED'] ?? 0) + 1;
    const terminal = outcomes.filter((o) => o.state && isTerminal(o.state.status)).length;
    const unexpected = outcomes.filter((o) => o.state && KINDS[o.kind] !== o.state.status);

    const report = await verifyLedger(pool);
    const paymentProblems = (
      await Promise.all(outcomes.map((o) => (o.state ? checkPaymentAgainstLedger(ledger, o.state) : Promise.resolve(null))))
    ).filter((p): p is string => p !== null);
    const invariantsOk = report.ok && paymentProblems.length === 0;

    const rows = Object.entries(byStatus).sort();
    console.log('');
    console.log('status        payments');
    console.log('------------  --------');
    for (const [status, count] of rows) console.log(`${status.padEnd(12)}  ${String(count).padStart(8)}`);
    console.log('------------  --------');
    console.log(`${'total'.padEnd(12)}  ${String(outcomes.length).padStart(8)}`);
    console.log('');
    console.log(formatVerifyReport(report));
    console.log(
      paymentProblems.length === 0
        ? 'payments agree with their transfers (invariant 5): OK'
        : `payments disagreeing with their transfers: ${paymentProblems.length}`,
    );
    for (const p of paymentProblems.slice(0, 20)) console.log(`  ${p}`);
    for (const o of outcomes.filter((x) => !x.state).slice(0, 10)) console.log(`  not final: ${o.payment_id}: ${o.error}`);
    for (const o of unexpected.slice(0, 10))
      console.log(`  unexpected: ${o.payment_id} (${o.kind}) ended ${o.state!.status}, expected ${KINDS[o.kind]}`);
    if (opts.json) {
      console.log(
        JSON.stringify({
          payments: opts.payments,
          terminal,
          unexpected: unexpected.length,
          by_status: byStatus,
          invariants_ok: invariantsOk,
        }),
      );
    }
    return terminal === opts.payments && unexpected.length === 0 && invariantsOk ? 0 : 1;
  } finally {
    await connection.close();
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo: ${(err as Error).message}`);
    process.exit(2);
  },
);
