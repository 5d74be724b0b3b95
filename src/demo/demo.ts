// `npm run demo -- --payments N [--json]`: drives N payouts through the running platform, a mix
// that settles, declines (over the credit line) and compensates (the payee's bank rejects), shows
// progress, prints a summary table, checks the ledger, and exits 0 only if every payment reached a
// final state and every invariant holds.
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import { startPayout } from '../api/payments.js';
import { loadConfig } from '../config.js';
import { TransferCode } from '../domain/ledger.js';
import { isTerminal, type PaymentState, type PayoutRequest } from '../domain/payment.js';
import { openCreditLine } from '../ledger/accounts.js';
import { createPool, type Pool } from '../ledger/db.js';
import { createLedger, type Ledger } from '../ledger/ledger.js';
import { formatVerifyReport, verifyLedger } from '../ledger/verify.js';
import { REJECTED_ACCOUNT_PREFIX } from '../settlement/simulator.js';
import { resolveEndpoints } from '../stack/stack-file.js';

const PAYMENTS_MAX = 100_000;
const CONCURRENCY_MAX = 500;

function positiveInt(max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    return n;
  };
}

const program = new Command('demo')
  .description('Drive payouts through the running platform and check the ledger afterwards.')
  .option('--payments <n>', 'how many payments to run', positiveInt(PAYMENTS_MAX), 20)
  .option('--concurrency <n>', 'payments in flight at once', positiveInt(CONCURRENCY_MAX), 20)
  .option('--timeout-s <s>', 'give up waiting after this many seconds', positiveInt(3600), 300)
  .option('--json', 'print one JSON summary object as the last line')
  .addHelpText('after', '\nNeeds a running platform (`npm start`), or TEMPORAL_ADDRESS and DATABASE_URL.');

type Kind = 'settle' | 'decline' | 'compensate';

/** The mix: every third payment in each run of seven goes wrong, one way or the other; the first
 * three cover all three outcomes so that even a tiny run shows each path. */
function kindOf(index: number): Kind {
  const pattern: Kind[] = ['settle', 'decline', 'compensate', 'settle', 'settle', 'decline', 'settle', 'compensate', 'settle', 'settle'];
  return pattern[index % pattern.length]!;
}

interface Outcome {
  request: PayoutRequest;
  kind: Kind;
  state: PaymentState | null;
  error?: string;
}

/** Invariant 5 for payouts: the company's net charge agrees with the final state. */
async function checkPaymentTransfers(ledger: Ledger, outcome: Outcome): Promise<string | null> {
  const { request, state } = outcome;
  if (!state) return null;
  const transfers = await ledger.getPaymentTransfers(request.payment_id);
  const charged =
    transfers.filter((t) => t.code === TransferCode.payout_posting).reduce((s, t) => s + t.amount_minor, 0) -
    transfers.filter((t) => t.code === TransferCode.payout_reversal).reduce((s, t) => s + t.amount_minor, 0);
  const expected = state.status === 'SETTLED' ? request.amount_minor : 0;
  if (charged !== expected) return `${request.payment_id} (${state.status}) charged ${charged}, expected ${expected}`;
  const openHolds = transfers.filter((t) => t.code === TransferCode.payout_hold && !transfers.some((r) => r.pending_id === t.id));
  if (openHolds.length > 0) return `${request.payment_id} (${state.status}) still holds ${openHolds[0]!.amount_minor}`;
  return null;
}

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts<{ payments: number; concurrency: number; timeoutS: number; json?: boolean }>();
  const config = loadConfig();
  const endpoints = resolveEndpoints(config);
  const progress = (msg: string) => process.stderr.write(`${msg}\n`);

  const pool: Pool = createPool(endpoints.database, { connections_max: 5, application_name: 'demo' });
  const connection = await Connection.connect({ address: endpoints.temporal, connectTimeout: 5_000 });
  const client = new Client({ connection, namespace: endpoints.namespace });
  try {
    const ledger = createLedger(pool);
    const run = randomUUID().slice(0, 8);
    // A roomy credit line for payouts that should go through, and a small one they overrun.
    const roomy = { company_id: `demo-${run}-acme`, limit_minor: 1_000_000_000 };
    const small = { company_id: `demo-${run}-tiny`, limit_minor: 1_000 };
    const roomyAccount = await openCreditLine(ledger, { ...roomy, currency: 'USD', grant_key: 'demo' });
    const smallAccount = await openCreditLine(ledger, { ...small, currency: 'USD', grant_key: 'demo' });

    const requests = Array.from({ length: opts.payments }, (_, i): { request: PayoutRequest; kind: Kind } => {
      const kind = kindOf(i);
      const amount_minor = 1_000 + ((i * 7_919) % 99_000);
      return {
        kind,
        request: {
          payment_id: `demo-${run}-${String(i).padStart(6, '0')}`,
          company_id: kind === 'decline' ? small.company_id : roomy.company_id,
          account_id: kind === 'decline' ? smallAccount : roomyAccount,
          amount_minor: kind === 'decline' ? small.limit_minor + amount_minor : amount_minor,
          currency: 'USD',
          payee: {
            name: `Supplier ${i}`,
            bank_account:
              kind === 'compensate' ? `${REJECTED_ACCOUNT_PREFIX}${String(i).padStart(8, '0')}` : `US${String(100_000_000 + i)}`,
          },
        },
      };
    });

    progress(
      `demo run ${run}: ${opts.payments} payouts, ${opts.concurrency} at a time, against ${endpoints.temporal}${endpoints.ui ? ` (watch: ${endpoints.ui})` : ''}`,
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
      while (next < requests.length) {
        const { request, kind } = requests[next++]!;
        try {
          const { handle } = await startPayout(client, request, endpoints.task_queue, {
            settlement_attention_after_ms: config.PAYOUT_SETTLEMENT_ATTENTION_AFTER_MS,
          });
          const remaining_ms = deadline - Date.now();
          const state = await Promise.race([
            handle.result(),
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error('timed out waiting for a final state')), Math.max(remaining_ms, 0)).unref(),
            ),
          ]);
          outcomes.push({ request, kind, state });
        } catch (err) {
          const message = err instanceof WorkflowFailedError ? `workflow failed: ${err.cause?.message}` : (err as Error).message;
          outcomes.push({ request, kind, state: null, error: message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, requests.length) }, lane));
    clearInterval(ticker);

    const byStatus: Record<string, number> = {};
    for (const o of outcomes) byStatus[o.state?.status ?? 'FAILED'] = (byStatus[o.state?.status ?? 'FAILED'] ?? 0) + 1;
    const terminal = outcomes.filter((o) => o.state && isTerminal(o.state.status)).length;
    const unexpected = outcomes.filter(
      (o) => o.state && ({ settle: 'SETTLED', decline: 'DECLINED', compensate: 'COMPENSATED' } as const)[o.kind] !== o.state.status,
    );

    const report = await verifyLedger(pool);
    const paymentProblems = (await Promise.all(outcomes.map((o) => checkPaymentTransfers(ledger, o)))).filter(
      (p): p is string => p !== null,
    );
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
    for (const o of outcomes.filter((x) => !x.state).slice(0, 10)) console.log(`  not final: ${o.request.payment_id}: ${o.error}`);
    for (const o of unexpected.slice(0, 10))
      console.log(`  unexpected: ${o.request.payment_id} meant to ${o.kind}, ended ${o.state!.status}`);
    if (opts.json) {
      console.log(JSON.stringify({ payments: opts.payments, terminal, by_status: byStatus, invariants_ok: invariantsOk }));
    }
    return terminal === opts.payments && invariantsOk ? 0 : 1;
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
