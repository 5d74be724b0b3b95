// `npm run demo -- --payments N [--json]`: drives N payments through the running platform, card
// purchases and payouts in a mix that reaches every final state (a purchase cleared, declined,
// reversed, expired, refunded or force posted; a payout settled, declined over its credit line or
// compensated after the payee's bank rejects it), shows progress, prints a summary table, checks
// the ledger, and exits 0 only if every payment reached the final state its path should reach,
// every invariant holds and its short billing cycle (src/demo/billing-cycle.ts) played as it should. Its traffic goes through the gRPC/Connect API (src/cli/client.ts) with an
// API key it creates for the companies it creates (and revokes at the end); it reads the database
// and Temporal only to set up demo timings and to check the outcome.
import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { Client, Connection, ServiceError, WorkflowFailedError } from '@temporalio/client';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createHttpCardNetwork } from '../settlement/network-client.js';
import { createApiKeyStore } from '../api/keys.js';
import { getPayment } from '../api/payments.js';
import { createApiClients, type ApiClients } from '../cli/client.js';
import { loadConfig } from '../config.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment, type CardWorkflowOptions } from '../domain/card.js';
import { isTerminal, paymentWorkflowId, type PaymentStatus } from '../domain/payment.js';
import { cardStartAttributes, cardWorkflowArgs } from '../api/card-payments.js';
import { createPool, type Pool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { checkPaymentAgainstLedger } from '../ledger/payment-check.js';
import { formatVerifyReport, verifyLedger } from '../ledger/verify.js';
import { REJECTED_ACCOUNT_PREFIX } from '../settlement/simulator.js';
import { readStackFile, resolveEndpoints } from '../stack/stack-file.js';
import type { Payment } from '../gen/cardplatform/payments/v1/payments_pb.js';
import { loadDataConverter } from '../codec/data-converter.js';
import { billingCompanies, playBillingCycle, type BillingOutcome } from './billing-cycle.js';

const PAYMENTS_MAX = 100_000;
/** The network's decision deadline the demo plays by default (Stripe's is 2 s, Marqeta's 3 s). */
const AUTHORIZATION_DEADLINE_MS = 2_000;
const AUTHORIZATION_DEADLINE_MS_MAX = 15_000;
/** Over this share of authorizations answered by the stand-in, the demo has shown overload, not its
 * paths: it fails and says what to do. */
const STAND_IN_SHARE_MAX = 0.5;
/** Fewer authorizations than this are too few to judge the machine by (a 3-payment smoke run):
 * the demo still says which paths it could not show, but does not fail for it. */
const AUTHORIZATIONS_JUDGED_MIN = 10;
/** Demo holds meant to expire do so after this long, not after days. */
const DEMO_HOLD_EXPIRY_MS = 3_000;
/** Demo card payments close this long after their final state (production: months). */
const DEMO_CARD_LINGER_MS = 10 * 60 * 1000;
/** A demo card payment whose first message never arrives (lost past its deadline) closes after
 * this long, declined (no_first_message). */
const DEMO_FIRST_EVENT_WAIT_MS = 30_000;
/** Deadline of the demo's other API calls. */
const API_CALL_TIMEOUT_MS = 30_000;
const CONCURRENCY_MAX = 500;

function positiveInt(max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    return n;
  };
}

const program = new Command('demo')
  .description(
    'Drive card purchases and payouts through the running platform, play a short billing cycle (statement, direct debit, dunning), and check the ledger afterwards.',
  )
  .option('--payments <n>', 'how many payments to run', positiveInt(PAYMENTS_MAX), 20)
  .option('--concurrency <n>', 'payments in flight at once', positiveInt(CONCURRENCY_MAX), 20)
  .option('--timeout-s <s>', 'give up waiting after this many seconds', positiveInt(3600), 300)
  .option(
    '--authorization-deadline-ms <ms>',
    "the card network's decision deadline the demo plays",
    positiveInt(AUTHORIZATION_DEADLINE_MS_MAX),
    AUTHORIZATION_DEADLINE_MS,
  )
  .option('--no-billing', 'skip the short billing cycle (only the payments)')
  .option('--json', 'print one JSON summary object as the last line')
  .addOption(new Option('--api <url>', 'the gRPC/Connect API (default: stack.json of `npm start`)').env('CARD_API_URL'))
  .addHelpText('after', '\nNeeds a running platform (`npm start`), or TEMPORAL_ADDRESS, DATABASE_URL and --api.');

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
  state: Payment | null;
  /** The authorization missed its deadline and the network's stand-in declined it: on a busy
   * machine an expected outcome (the payment ends DECLINED), counted apart. */
  stand_in: boolean;
  error?: string;
}

/** Polls a payment through the API until it is in a final state (card payments stay open after
 * it, for late clearings and refunds, so their workflow's end is not what to wait for). */
async function waitForFinal(
  api: ApiClients,
  payment_id: string,
  deadline_ms: number,
  onStatus: (status: string) => void,
): Promise<Payment> {
  for (let attempt = 0; ; attempt += 1) {
    const { payment } = await api.payments.getPayment({ paymentId: payment_id });
    if (!payment) throw new Error(`payment ${payment_id}: the API answered no payment`);
    if (isTerminal(payment.status as PaymentStatus)) return payment;
    onStatus(payment.status);
    if (Date.now() > deadline_ms) throw new Error(`timed out waiting for a final state, payment is ${payment.status}`);
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1_000)));
  }
}

/** Starts a card payment's workflow with the demo's short timings before its first message (the
 * API starts card payments with production timings, months, and has no per-payment knobs): the
 * API's update-with-start then joins it. Same id, policies and search attributes as the API's
 * start (src/api/card-payments.ts). */
async function startDemoCardPayment(
  client: Client,
  purchase: CardPayment,
  task_queue: string,
  workflow: CardWorkflowOptions,
): Promise<void> {
  await client.workflow.start('cardPaymentWorkflow', {
    workflowId: paymentWorkflowId(purchase.payment_id),
    taskQueue: task_queue,
    args: cardWorkflowArgs(purchase, workflow),
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    staticSummary: `Demo card payment on ${purchase.card_id} at ${purchase.merchant.name}`,
    typedSearchAttributes: cardStartAttributes(purchase),
  });
}

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts<{
    payments: number;
    concurrency: number;
    timeoutS: number;
    authorizationDeadlineMs: number;
    billing: boolean;
    json?: boolean;
    api?: string;
  }>();
  const config = loadConfig();
  const endpoints = resolveEndpoints(config);
  const apiUrl = opts.api ?? readStackFile(config.DATA_DIR)?.api;
  if (!apiUrl) throw new Error('no API address: pass --api URL or set CARD_API_URL, or start the platform with `npm start`');
  const progress = (msg: string) => process.stderr.write(`${msg}\n`);

  const pool: Pool = createPool(endpoints.database, { connections_max: 5, application_name: 'demo' });
  const connection = await Connection.connect({ address: endpoints.temporal, connectTimeout: 5_000 });
  const client = new Client({ connection, namespace: endpoints.namespace, dataConverter: loadDataConverter(config) });
  let revokeKey: (() => Promise<unknown>) | null = null;
  try {
    const ledger = createLedger(pool);
    const keys = createApiKeyStore(pool);
    const run = randomUUID().slice(0, 8);
    // A roomy credit line for payments that should go through, and a small one they overrun.
    const roomy = { company_id: `demo-${run}-acme`, limit_minor: 1_000_000_000 };
    const small = { company_id: `demo-${run}-tiny`, limit_minor: 1_000 };
    // The demo's own API key, scoped to the companies it creates, revoked when it is done.
    const billing = billingCompanies(run);
    const { key_id, api_key } = await keys.create({
      name: `demo-${run}`,
      company_ids: [roomy.company_id, small.company_id, billing.payer.company_id, billing.late.company_id],
    });
    revokeKey = () => keys.revoke(key_id);
    const api = createApiClients({ url: apiUrl, key: api_key, timeout_ms: API_CALL_TIMEOUT_MS });
    const networkUrl = config.CARD_NETWORK_URL ?? readStackFile(config.DATA_DIR)?.settlement_gateway;
    const network = networkUrl ? createHttpCardNetwork(networkUrl) : null;
    for (const company of [roomy, small]) {
      await api.ledger.createCreditLine({
        companyId: company.company_id,
        currency: 'USD',
        limitMinor: BigInt(company.limit_minor),
        grantKey: 'demo',
      });
    }
    const roomyCard = (await api.cards.issueCard({ cardId: `demo-${run}-card`, companyId: roomy.company_id, currency: 'USD' })).card!;
    const smallCard = (await api.cards.issueCard({ cardId: `demo-${run}-tiny-card`, companyId: small.company_id, currency: 'USD' })).card!;
    // Card payments close a while after their final state (production keeps them open for months
    // for late clearings and refunds); the expiring ones expire within seconds.
    const cardOptions: CardWorkflowOptions = {
      ...DEFAULT_CARD_OPTIONS,
      linger_ms: DEMO_CARD_LINGER_MS,
      first_event_wait_ms: DEMO_FIRST_EVENT_WAIT_MS,
    };
    const expiringOptions: CardWorkflowOptions = { ...cardOptions, hold_expiry_ms: DEMO_HOLD_EXPIRY_MS };

    // What each payment in flight waits for, for the progress line.
    const waiting = new Map<string, string>();
    const untilFinal = (payment_id: string) =>
      waitForFinal(api, payment_id, deadline, (status) => waiting.set(payment_id, `${status.toLowerCase()} -> final`));
    const drive = async (kind: Kind, i: number): Promise<{ payment_id: string; state: Payment; stand_in: boolean }> => {
      const payment_id = `demo-${run}-${String(i).padStart(6, '0')}`;
      const amount_minor = 1_000 + ((i * 7_919) % 99_000);
      if (kind.startsWith('payout_')) {
        const declined = kind === 'payout_decline';
        waiting.set(payment_id, 'payout accepted');
        await api.payments.payout({
          paymentId: payment_id,
          companyId: declined ? small.company_id : roomy.company_id,
          amountMinor: BigInt(declined ? small.limit_minor + amount_minor : amount_minor),
          currency: 'USD',
          payee: {
            name: `Supplier ${i}`,
            bankAccount:
              kind === 'payout_compensate' ? `${REJECTED_ACCOUNT_PREFIX}${String(i).padStart(8, '0')}` : `US${String(100_000_000 + i)}`,
          },
        });
        return { payment_id, state: await untilFinal(payment_id), stand_in: false };
      }
      const purchase: CardPayment = {
        payment_id,
        card_id: kind === 'card_decline' ? smallCard.cardId : roomyCard.cardId,
        currency: 'USD',
        merchant: { mcc: i % 2 === 0 ? '5812' : '5411', name: `Merchant ${i % 17}` },
      };
      const transaction = {
        paymentId: purchase.payment_id,
        cardId: purchase.card_id,
        currency: purchase.currency,
        merchant: purchase.merchant,
      };
      /** false when the network's stand-in declined it: the decision missed the 2 s deadline (on
       * the server, or the answer on its way back); the payment then ends DECLINED by itself. */
      const authorize = async (): Promise<boolean> => {
        waiting.set(payment_id, 'authorization decision');
        await startDemoCardPayment(
          client,
          purchase,
          config.TEMPORAL_AUTHORIZATION_TASK_QUEUE,
          kind === 'card_expire' ? expiringOptions : cardOptions,
        );
        try {
          const { decision } = await api.payments.authorize(
            { transaction, amountMinor: BigInt(amount_minor) },
            { timeoutMs: opts.authorizationDeadlineMs },
          );
          return !decision?.standIn;
        } catch (err) {
          if (!(err instanceof ConnectError && err.code === Code.DeadlineExceeded)) throw err;
          // No answer in time: the network stood in (declined). An approval that was decided in
          // time but arrived late still holds; the network reverses it (a timeout reversal).
          waiting.set(payment_id, 'stand-in outcome');
          for (let attempt = 0; ; attempt += 1) {
            // A query can fail for a moment (e.g. while a Temporal history process's shards move
            // to another after it died): ask again until the deadline.
            const status = await getPayment(client, payment_id).then(
              (state) => state.status,
              (err: unknown) => {
                if (!(err instanceof ServiceError)) throw err;
                return null;
              },
            );
            if (status === 'AUTHORIZED') await api.payments.reverse({ paymentId: payment_id, eventId: 'timeout-reversal' });
            if (status !== null && status !== 'RECEIVED' && status !== 'AUTHORIZING') return false;
            if (Date.now() > deadline) throw new Error(`timed out waiting for the authorization's outcome, payment is ${status}`);
            await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1_000)));
          }
        }
      };
      // The demo plays the card network: what it clears and refunds, it also records as the
      // network's own report, so the daily network settlement reconciles.
      const clear = async (amount: number) => {
        waiting.set(payment_id, 'clearing posted');
        await api.payments.clear({ transaction, eventId: 'clearing-1', amountMinor: BigInt(amount) });
        await network?.record([
          { record_id: `${payment_id}:clearing-1`, kind: 'clearing', currency: 'USD', amount_minor: amount, at: new Date().toISOString() },
        ]);
      };
      const refund = async (amount: number) => {
        waiting.set(payment_id, 'refund credited');
        await api.payments.refund({ transaction, eventId: 'refund-1', amountMinor: BigInt(amount) });
        await network?.record([
          { record_id: `${payment_id}:refund-1`, kind: 'refund', currency: 'USD', amount_minor: amount, at: new Date().toISOString() },
        ]);
      };
      let decided = true;
      switch (kind) {
        case 'card_clear':
          if ((decided = await authorize())) await clear(amount_minor);
          break;
        case 'card_decline':
        case 'card_expire':
          decided = await authorize();
          break;
        case 'card_reverse':
          if ((decided = await authorize())) {
            waiting.set(payment_id, 'reversal');
            await api.payments.reverse({ paymentId: payment_id, eventId: 'reversal-1' });
          }
          break;
        case 'card_refund':
          if ((decided = await authorize())) {
            await clear(amount_minor);
            await refund(amount_minor);
          }
          break;
        case 'card_force_post':
          await clear(amount_minor);
          break;
      }
      return { payment_id, state: await untilFinal(payment_id), stand_in: !decided };
    };

    progress(
      `demo run ${run}: ${opts.payments} payments (card purchases and payouts), ${opts.concurrency} at a time, through the API at ${apiUrl}${endpoints.ui ? ` (watch: ${endpoints.ui})` : ''}`,
    );
    const outcomes: Outcome[] = [];
    const deadline = Date.now() + opts.timeoutS * 1000;
    let next = 0;
    const ticker = setInterval(() => {
      const counts = new Map<string, number>();
      for (const o of outcomes) counts.set(o.state?.status ?? 'FAILED', (counts.get(o.state?.status ?? 'FAILED') ?? 0) + 1);
      const waits = new Map<string, number>();
      for (const w of waiting.values()) waits.set(w, (waits.get(w) ?? 0) + 1);
      const standIns = outcomes.filter((o) => o.stand_in).length;
      progress(
        `  ${outcomes.length}/${opts.payments} finished  ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}` +
          (waits.size > 0 ? `  | waiting for: ${[...waits].map(([k, v]) => `${k} ${v}`).join(', ')}` : '') +
          (standIns > 0 ? `  | ${standIns} authorizations missed the ${opts.authorizationDeadlineMs} ms deadline` : ''),
      );
    }, 1_000);
    const lane = async () => {
      while (next < opts.payments) {
        const i = next++;
        const kind = kindOf(i);
        try {
          const { payment_id, state, stand_in } = await Promise.race([
            drive(kind, i),
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error('timed out waiting for a final state')), Math.max(deadline - Date.now(), 0)).unref(),
            ),
          ]);
          outcomes.push({ payment_id, kind, state, stand_in });
          waiting.delete(payment_id);
        } catch (err) {
          const message =
            err instanceof WorkflowFailedError
              ? `workflow failed: ${err.cause?.message}`
              : err instanceof ConnectError
                ? `the API answered ${Code[err.code]}: ${err.rawMessage}`
                : (err as Error).message;
          const payment_id = `demo-${run}-${String(i).padStart(6, '0')}`;
          waiting.delete(payment_id);
          outcomes.push({ payment_id, kind, state: null, stand_in: false, error: message });
        }
      }
    };
    // The billing cycle plays beside the payments (its cycles are seconds long).
    const billingPlayed: Promise<BillingOutcome> = opts.billing
      ? playBillingCycle(api, client, billing, deadline, progress).catch((err: unknown) => ({
          statements: { closed: 0, paid: 0, past_due: 0 },
          problems: [(err as Error).message],
        }))
      : Promise.resolve({ statements: { closed: 0, paid: 0, past_due: 0 }, problems: [] });
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.payments) }, lane));
    const billingOutcome = await billingPlayed;
    clearInterval(ticker);

    const byStatus: Record<string, number> = {};
    for (const o of outcomes) byStatus[o.state?.status ?? 'FAILED'] = (byStatus[o.state?.status ?? 'FAILED'] ?? 0) + 1;
    const terminal = outcomes.filter((o) => o.state && isTerminal(o.state.status as PaymentStatus)).length;
    // A stand-in decline is what the network does with a late decision: the payment ends DECLINED
    // (or REVERSED, when an approval decided in time arrived too late and the network reversed it).
    const expectedOf = (o: Outcome): PaymentStatus[] => (o.stand_in ? ['DECLINED', 'REVERSED'] : [KINDS[o.kind]]);
    const unexpected = outcomes.filter((o) => o.state && !expectedOf(o).includes(o.state.status as PaymentStatus));
    const standIns = outcomes.filter((o) => o.stand_in && o.state && !unexpected.includes(o)).length;

    const report = await verifyLedger(pool);
    const paymentProblems = (
      await Promise.all(
        outcomes.map(async (o) => (o.state ? checkPaymentAgainstLedger(ledger, await getPayment(client, o.payment_id)) : null)),
      )
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
    const { statements } = billingOutcome;
    console.log(`statements: ${statements.closed} closed, ${statements.paid} paid, ${statements.past_due} went past due`);
    for (const p of billingOutcome.problems) console.log(`  billing: ${p}`);
    for (const o of unexpected.slice(0, 10))
      console.log(`  unexpected: ${o.payment_id} (${o.kind}) ended ${o.state!.status}, expected ${expectedOf(o).join(' or ')}`);
    // Authorizations that missed the network's deadline: the stand-in declined them, so their
    // paths (clearing, reversal, refund, expiry) were not shown. Say so, and what to do.
    const authorizations = outcomes.filter((o) => o.kind.startsWith('card_') && o.kind !== 'card_force_post').length;
    const overloaded = authorizations >= AUTHORIZATIONS_JUDGED_MIN && standIns > authorizations * STAND_IN_SHARE_MAX;
    if (standIns > 0) {
      const notShown = [...new Set(outcomes.filter((o) => o.stand_in).map((o) => o.kind))];
      console.log('');
      console.log(
        `${standIns} of ${authorizations} authorizations missed their ${opts.authorizationDeadlineMs} ms deadline and were declined by the network's stand-in,`,
      );
      console.log(`so these payments did not show their paths (${notShown.join(', ')}). The platform is too busy for this load:`);
      const inFlight = Math.min(opts.concurrency, opts.payments);
      console.log(`  - run fewer payments at once: --concurrency ${Math.max(1, Math.floor(inFlight / 4))} (now ${inFlight})`);
      console.log(
        `  - or give the network more time: --authorization-deadline-ms ${Math.min(AUTHORIZATION_DEADLINE_MS_MAX, opts.authorizationDeadlineMs * 3)}`,
      );
      console.log("  - or see the platform's admission settings (API_TEMPORAL_IN_FLIGHT_*, docs/performance.md)");
      console.log('  - or free the machine (other builds, tests) before the demo');
      if (overloaded) console.log(`More than ${STAND_IN_SHARE_MAX * 100} % stood in: the demo counts this run as failed.`);
    }
    if (opts.json) {
      console.log(
        JSON.stringify({
          payments: opts.payments,
          terminal,
          unexpected: unexpected.length,
          stand_in: standIns,
          authorizations,
          overloaded,
          by_status: byStatus,
          statements,
          invariants_ok: invariantsOk,
        }),
      );
    }
    const billingOk = billingOutcome.problems.length === 0;
    return terminal === opts.payments && unexpected.length === 0 && invariantsOk && !overloaded && billingOk ? 0 : 1;
  } finally {
    await revokeKey?.().catch(() => undefined);
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
