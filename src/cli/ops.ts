// `ops ...`: operator actions on running payments, sent to the payment workflows through Temporal
// (src/api/ops.ts), and the Web UI's reading of a payment from a terminal. Temporal's address comes
// from TEMPORAL_ADDRESS, else the running stack's stack.json.
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { OpsActionRefusedError, listPayments, readPayment, runOpsAction } from '../api/ops.js';
import { PaymentNotFoundError } from '../api/payments.js';
import { loadDataConverter } from '../codec/data-converter.js';
import { loadConfig } from '../config.js';
import type { OpsActionName } from '../domain/ops.js';
import { readStackFile } from '../stack/stack-file.js';

async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const address = config.TEMPORAL_ADDRESS ?? readStackFile(config.DATA_DIR)?.temporal;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set and no stack is running: start it with `npm start`');
  const connection = await Connection.connect({ address });
  try {
    // The workers' payload keys: ops updates and the payment state they return are encrypted.
    return await fn(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: loadDataConverter(config) }));
  } finally {
    await connection.close();
  }
}

/** The program's global --json (every command prints JSON with it). */
function jsonWanted(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true;
}

/** Exit 3 for a refusal or an unknown payment (as the other commands), 1 otherwise. */
async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const refused = err instanceof OpsActionRefusedError || err instanceof PaymentNotFoundError;
    // Exits here: the program's own handler knows the API's errors, not Temporal's.
    const code = refused ? 3 : 1;
    await new Promise<void>((resolve) =>
      process.stderr.write(`cli: ${refused ? 'refused' : 'failed'}: ${(err as Error).message}\n`, () => resolve()),
    );
    process.exit(code);
  }
}

export function opsCommand(): Command {
  const ops = new Command('ops').description('operator actions on running payments (Temporal updates), recorded with who and why');
  const actions: Array<[string, OpsActionName, string]> = [
    [
      'retry-settlement',
      'retrySettlement',
      'send a flagged payout to the bank again (same idempotency key), or book a paid one whose booking failed',
    ],
    ['void-hold', 'voidHold', 'release what a card payment still holds now (as expiry would)'],
    ['resolve-attention', 'resolveAttention', 'clear NeedsAttention; the timeline keeps why it was raised'],
  ];
  for (const [name, action, description] of actions) {
    ops
      .command(name)
      .description(description)
      .argument('<payment-id>', 'the payment')
      .requiredOption('--operator <who>', 'who acts (1-64 letters, digits, _ . @ + -)')
      .requiredOption('--reason <why>', 'why (1-500 characters, one line)')
      .option('--request-id <id>', 'idempotency key of this action (a repeat acts once)')
      .action((payment_id: string, o: { operator: string; reason: string; requestId?: string }, cmd: Command) =>
        run(() =>
          withClient(async (client) => {
            const state = await runOpsAction(
              client,
              action,
              payment_id,
              { operator: o.operator, reason: o.reason },
              o.requestId ? { request_id: o.requestId } : {},
            );
            if (jsonWanted(cmd)) console.log(JSON.stringify(state, null, 2));
            else console.log(`${payment_id}: ${state.status}${state.needs_attention ? ' (needs attention)' : ''}; ${name} recorded`);
          }),
        ),
      );
  }
  ops
    .command('show')
    .description('a payment as the Web UI shows it: current details, then the timeline')
    .argument('<payment-id>', 'the payment')
    .action((payment_id: string, _o: unknown, cmd: Command) =>
      run(() =>
        withClient(async (client) => {
          const view = await readPayment(client, payment_id);
          if (jsonWanted(cmd)) return console.log(JSON.stringify(view, null, 2));
          console.log(`${view.summary ?? payment_id}\n\n${view.current_details}\n\nTimeline:`);
          for (const e of view.state.timeline) {
            console.log(`  ${e.at}  ${e.event}${e.detail ? `  ${e.detail}` : ''}${e.operator ? `  by ${e.operator}: ${e.reason}` : ''}`);
          }
        }),
      ),
    );
  ops
    .command('list')
    .description('payments matching a Web UI query')
    .option('--query <query>', 'visibility query', "NeedsAttention = true AND ExecutionStatus = 'Running'")
    .option('--limit <n>', 'at most this many', (v) => Number.parseInt(v, 10), 100)
    .action((o: { query: string; limit: number }, cmd: Command) =>
      run(() =>
        withClient(async (client) => {
          const found = await listPayments(client, o.query, o.limit);
          if (jsonWanted(cmd)) return console.log(JSON.stringify(found, null, 2));
          for (const p of found) {
            console.log(
              [
                p.workflow_id,
                p.kind ?? '-',
                p.payment_status ?? '-',
                p.amount_minor ?? '-',
                p.currency ?? '-',
                p.needs_attention ? 'attention' : '',
              ].join('\t'),
            );
          }
          console.log(`${found.length} payment(s)`);
        }),
      ),
    );
  return ops;
}
