// `npm run cli -- <command>`: the platform's API from a terminal. `npm run cli -- --help` lists the
// commands; every command has --help. Tables by default, --json for scripts; the API address and
// key come from --api/--key, CARD_API_URL/CARD_API_KEY, or the running stack's stack.json.
import { Command, CommanderError, Option } from 'commander';
import { httpUrl, integerIn } from './args.js';
import { billingCommand } from './billing.js';
import { cardsCommand } from './cards.js';
import { disputesCommand } from './disputes.js';
import { TIMEOUT_MS_DEFAULT, resolvedApi } from './context.js';
import { EXIT, describeFailure } from './errors.js';
import { keysCommand } from './keys.js';
import { ledgerCommand } from './ledger.js';
import { opsCommand } from './ops.js';
import { paymentsCommand } from './payments.js';
import { uiCommand } from './ui.js';

const program = new Command('cli')
  .description('Card payments platform: payments, ledger, cards, billing, disputes (through the API) and API keys (database).')
  .addOption(
    new Option('--api <url>', 'the API, e.g. http://127.0.0.1:7470 (default: stack.json of `npm start`)')
      .env('CARD_API_URL')
      .argParser(httpUrl),
  )
  .addOption(new Option('--key <key>', 'API key cpk_... (default: the local key in stack.json)').env('CARD_API_KEY'))
  .option('--json', 'print the answer as one JSON document (for scripts)')
  .option('--timeout-ms <ms>', 'deadline of each API call', integerIn(1, 600_000), TIMEOUT_MS_DEFAULT)
  .showHelpAfterError('(add --help for usage)')
  .exitOverride()
  .addHelpText(
    'after',
    `
Exit status: 0 done, 1 failed, 2 bad usage or input, 3 refused (not found, key refused, not allowed), 4 unavailable (retry).
Amounts are integers of minor units: --amount-minor 1250 is 12.50 USD.

Examples:
  npm run cli -- ledger credit-line --company acme --limit-minor 500000 --grant-key initial
  npm run cli -- cards issue acme-card-1 --company acme
  npm run cli -- payments authorize txn-1 --card acme-card-1 --amount-minor 1250 --mcc 5812 --merchant "Cafe Rio"
  npm run cli -- payments get txn-1 --json
  npm run cli -- billing statements --company acme
  npm run cli -- disputes open txn-1 --key d1 --reason not_received --amount-minor 1250 --evidence "never delivered"
  npm run cli -- keys create --name erp-sync --company acme
  npm run cli -- ui payments --company acme`,
  );

for (const sub of [
  paymentsCommand(),
  ledgerCommand(),
  cardsCommand(),
  billingCommand(),
  disputesCommand(),
  keysCommand(),
  opsCommand(),
  uiCommand(),
]) {
  program.addCommand(sub);
}
// Every command exits through the catch below, with its own status (commander's default is 1).
const applyToAll = (cmd: Command) => {
  cmd.exitOverride().showHelpAfterError('(add --help for usage)');
  for (const c of cmd.commands) applyToAll(c);
};
applyToAll(program);

async function main(): Promise<number> {
  try {
    await program.parseAsync(process.argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version print and succeed; every other parse error was already printed.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      // A command group without a subcommand shows its help on stderr and fails; so does any
      // parse error (an unknown option, a missing required one, a value the parser refused).
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const { message, exit_code } = describeFailure(err, resolvedApi.url);
    process.stderr.write(`cli: ${message}\n`);
    return exit_code;
  }
}

const code = await main();
// Idle keep-alive connections must not hold the process open; stdout is flushed first.
process.stdout.write('', () => process.exit(code));
