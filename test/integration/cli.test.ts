// `npm run cli`: the CLI as a child process against a real API server (test/support/api.ts):
// every command once with --json, --help of every command, bad input refused before any call with
// the field named, a missing or refused key, an unreachable API, and keys created and revoked
// through the database (the revoked key is then refused).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { startApiHarness, type ApiHarness } from '../support/api.js';
import { testEnv } from '../support/env.js';

let api: ApiHarness & { key: string };
let databaseUrl: string;
let emptyDataDir: string;
const run = randomUUID().slice(0, 8);
const company = `cli-${run}`;
const card = `cli-card-${run}`;

before(async () => {
  api = await startApiHarness('cli', { companies: [company] });
  databaseUrl = (api.h.pool as unknown as { options: { connectionString: string } }).options.connectionString;
  // No stack.json here: the address and key come from the environment or flags only.
  emptyDataDir = mkdtempSync(path.join(testEnv.scratchDir, 'cli-'));
});
after(async () => {
  await api?.close();
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; the API server lives in this process, so the child is never waited on synchronously. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: emptyDataDir,
    CARD_API_URL: api.server.url,
    CARD_API_KEY: api.key,
    DATABASE_URL: databaseUrl,
    ...env,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Runs a command that must succeed with --json and returns its JSON answer. */
async function json(args: string[], env: Record<string, string | undefined> = {}): Promise<any> {
  const r = await cli([...args, '--json'], env);
  assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return results;
}

const merchant = ['--mcc', '5812', '--merchant', 'Cafe Rio'];

describe('cli', () => {
  test('every API command, with --json', async () => {
    const line = await json(['ledger', 'credit-line', '--company', company, '--limit-minor', '1000000', '--grant-key', 'initial']);
    assert.equal(line.account.availableMinor, '1000000');
    assert.equal(line.account.companyId, company);
    const accountId: string = line.account.accountId;
    assert.equal((await json(['ledger', 'account', accountId])).account.creditsPosted, '1000000');

    const issued = await json(['cards', 'issue', card, '--company', company, '--limit-minor', '500000', '--block-mcc', '7995']);
    assert.equal(issued.card.status, 'CARD_STATUS_ACTIVE');
    assert.deepEqual(issued.card.blockedMccs, ['7995']);
    assert.equal((await json(['cards', 'get', card])).card.transactionLimitMinor, '500000');
    const ruled = await json(['cards', 'rules', card, '--limit-minor', '400000', '--block-mcc', '7995,5813']);
    assert.equal(ruled.card.transactionLimitMinor, '400000');
    assert.deepEqual(ruled.card.blockedMccs, ['7995', '5813']);
    assert.equal((await json(['cards', 'freeze', card])).card.status, 'CARD_STATUS_FROZEN');
    const frozen = await json([
      'payments',
      'authorize',
      `frozen-${run}`,
      '--card',
      card,
      '--amount-minor',
      '100',
      ...merchant,
      '--deadline-ms',
      '10000',
    ]);
    assert.equal(frozen.decision.approved, false);
    assert.equal(frozen.decision.declineReason, 'card_frozen');
    assert.equal((await json(['cards', 'unfreeze', card])).card.status, 'CARD_STATUS_ACTIVE');
    const limited = await json(['cards', 'set-spend-limits', card, '--limit', 'day:amount:1000000', '--limit', 'week:count:50:5812,5813']);
    assert.deepEqual(
      limited.card.spendLimits.map((u: { name: string; remaining: string }) => [u.name, u.remaining]),
      [
        ['spend_limit:card:day:amount', '1000000'],
        ['spend_limit:card:week:count:mcc=5812+5813', '50'],
      ],
    );
    const companyLimits = await json(['cards', 'set-company-spend-limits', '--company', company, '--limit', 'month:amount:900000']);
    assert.equal(companyLimits.limits[0].name, 'spend_limit:company:month:amount');
    assert.match((await cli(['cards', 'get', card])).stdout, /spend_limit:company:month:amount/);

    // Billing: start (again: harmless), a repayment by transfer (once per key), the statements.
    const billing = ['--company', company, '--cycle-ms', '600000', '--due-after-ms', '1000', '--grace-ms', '1000'];
    assert.equal((await json(['billing', 'start', ...billing])).started, true);
    assert.equal((await json(['billing', 'start', ...billing])).started, false);
    const repaid = await json(['billing', 'repay', '--company', company, '--idempotency-key', `wire-${run}`, '--amount-minor', '500']);
    assert.equal(repaid.created, true);
    assert.equal(repaid.amountMinor, '500');
    assert.equal(
      (await json(['billing', 'repay', '--company', company, '--idempotency-key', `wire-${run}`, '--amount-minor', '500'])).created,
      false,
    );
    assert.deepEqual((await json(['billing', 'statements', '--company', company])).statements ?? [], [], 'no cycle closed yet');
    const missing = await cli(['billing', 'statement', `${company}/USD/1`]);
    assert.equal(missing.code, 3, missing.stderr);

    const tx = `txn-${run}`;
    const tx_args = ['--card', card, ...merchant];
    const decision = await json(['payments', 'authorize', tx, ...tx_args, '--amount-minor', '2500', '--deadline-ms', '10000']);
    assert.equal(decision.decision.approved, true, JSON.stringify(decision));
    assert.equal(decision.decision.heldMinor, '2500');
    const incremented = await json(['payments', 'increment', tx, '--event-id', 'inc-1', '--amount-minor', '500']);
    assert.equal(incremented.decision.approved, true, JSON.stringify(incremented));
    const reversed = await json(['payments', 'reverse', tx, '--event-id', 'rev-1', '--amount-minor', '500']);
    assert.equal(BigInt(reversed.payment.heldMinor), BigInt(incremented.decision.heldMinor) - 500n, JSON.stringify(reversed));
    const cleared = await json(['payments', 'clear', tx, ...tx_args, '--event-id', 'clr-1', '--amount-minor', '2500']);
    assert.equal(cleared.payment.status, 'SETTLED');
    assert.equal(cleared.payment.postedMinor, '2500');
    const refunded = await json(['payments', 'refund', tx, ...tx_args, '--event-id', 'ref-1', '--amount-minor', '1000']);
    assert.equal(refunded.payment.refundedMinor, '1000');
    const got = await json(['payments', 'get', tx]);
    assert.equal(got.payment.paymentId, tx);
    assert.equal(got.payment.companyId, company);

    const payout = await json([
      'payments',
      'payout',
      `po-${run}`,
      '--company',
      company,
      '--amount-minor',
      '1200',
      '--payee-name',
      'Supplier One',
      '--bank-account',
      'US12345678',
      '--wait',
    ]);
    assert.equal(payout.started, true);
    assert.equal(payout.payment.status, 'SETTLED');

    const transfers = await json(['ledger', 'transfers', '--payment', tx]);
    assert.ok(transfers.transfers.length >= 3, JSON.stringify(transfers));
    assert.ok(transfers.transfers.every((t: { paymentId: string }) => t.paymentId === tx));
    const byAccount = await json(['ledger', 'transfers', '--account', accountId, '--page-size', '2']);
    assert.equal(byAccount.transfers.length, 2);
    assert.notEqual(byAccount.nextPageToken, '');

    // Visibility is eventually consistent: give the list a few tries.
    let listed: Array<{ paymentId: string }> = [];
    for (let attempt = 0; attempt < 10 && listed.length < 3; attempt += 1) {
      listed = (await json(['payments', 'list', '--company', company])).payments;
    }
    assert.deepEqual(listed.map((p) => p.paymentId).sort(), [`frozen-${run}`, `po-${run}`, tx].sort());

    // Without --json: a readable table.
    const table = await cli(['payments', 'get', tx]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^payment_id\s+txn-/m);
    assert.match(table.stdout, /^refunded_minor\s+1000$/m);
    assert.match(table.stdout, /^timeline$/m);
  });

  test('ops: show a payment, void its hold with operator and reason, a refused action exits 3', async () => {
    const tx = `ops-${run}`;
    const env = { TEMPORAL_ADDRESS: testEnv.temporalAddress };
    const held = await json(['payments', 'authorize', tx, '--card', card, ...merchant, '--amount-minor', '700', '--deadline-ms', '10000']);
    assert.equal(held.decision.approved, true, JSON.stringify(held));
    const shown = await json(['ops', 'show', tx], env);
    assert.equal(shown.state.status, 'AUTHORIZED');
    assert.match(shown.current_details, /AUTHORIZED/);
    const refused = await cli(['ops', 'resolve-attention', tx, '--operator', 'ana', '--reason', 'nothing to resolve'], env);
    assert.equal(refused.code, 3, refused.stderr + refused.stdout);
    assert.match(refused.stderr, /refused/);
    const voided = await json(['ops', 'void-hold', tx, '--operator', 'ana@ops', '--reason', 'merchant confirmed cancellation'], env);
    assert.equal(voided.held_minor, 0);
    const entry = voided.timeline.find((e: { event: string }) => e.event.startsWith('ops_void'));
    assert.ok(entry, JSON.stringify(voided.timeline));
    assert.equal(entry.operator, 'ana@ops');
    assert.equal(entry.reason, 'merchant confirmed cancellation');
  });

  test('--help of every command exits 0 and names its options', async () => {
    const commands: Array<[string[], string[]]> = [
      [[], ['--api', '--key', '--json', '--timeout-ms', 'payments', 'ledger', 'cards', 'billing', 'keys']],
      [['billing'], ['start', 'statements', 'statement', 'repay']],
      [
        ['billing', 'start'],
        ['--company', '--currency', '--closing-day', '--cycle-ms', '--due-after-ms', '--grace-ms', '--late-fee-minor', '--debit-account'],
      ],
      [
        ['billing', 'statements'],
        ['--company', '--currency', '--page-size', '--before-cycle'],
      ],
      [['billing', 'statement'], ['<statement-id>']],
      [
        ['billing', 'repay'],
        ['--company', '--idempotency-key', '--amount-minor'],
      ],
      [['payments'], ['authorize', 'increment', 'reverse', 'clear', 'refund', 'payout', 'get', 'list']],
      [
        ['payments', 'authorize'],
        ['--card', '--amount-minor', '--mcc', '--merchant', '--currency', '--stand-in', '--deadline-ms'],
      ],
      [
        ['payments', 'increment'],
        ['--event-id', '--amount-minor'],
      ],
      [
        ['payments', 'reverse'],
        ['--event-id', '--amount-minor'],
      ],
      [
        ['payments', 'clear'],
        ['--card', '--event-id', '--amount-minor', '--more-to-come'],
      ],
      [
        ['payments', 'refund'],
        ['--card', '--event-id', '--amount-minor'],
      ],
      [
        ['payments', 'payout'],
        ['--company', '--amount-minor', '--currency', '--payee-name', '--bank-account', '--wait'],
      ],
      [['payments', 'get'], ['<payment-id>']],
      [
        ['payments', 'list'],
        ['--status', '--card', '--company', '--started-after', '--started-before', '--page-size', '--page-token'],
      ],
      [['ledger'], ['credit-line', 'close-credit-line', 'account', 'transfers']],
      [['ledger', 'close-credit-line'], ['<account-id>']],
      [
        ['ledger', 'credit-line'],
        ['--company', '--currency', '--limit-minor', '--grant-key'],
      ],
      [['ledger', 'account'], ['<account-id>']],
      [
        ['ledger', 'transfers'],
        ['--payment', '--account', '--page-size', '--page-token'],
      ],
      [['cards'], ['issue', 'get', 'freeze', 'unfreeze', 'rules', 'set-spend-limits', 'set-company-spend-limits']],
      [
        ['cards', 'set-spend-limits'],
        ['<card-id>', '--limit', 'day|week|month|all_time'],
      ],
      [
        ['cards', 'set-company-spend-limits'],
        ['--company', '--currency', '--limit'],
      ],
      [
        ['cards', 'issue'],
        ['--company', '--currency', '--limit-minor', '--block-mcc'],
      ],
      [['cards', 'get'], ['<card-id>']],
      [['cards', 'freeze'], ['<card-id>']],
      [['cards', 'unfreeze'], ['<card-id>']],
      [
        ['cards', 'rules'],
        ['--limit-minor', '--block-mcc'],
      ],
      [['disputes'], ['open', 'get', 'list', 'withdraw', 'network-response']],
      [
        ['disputes', 'open'],
        ['--key', '--reason', '--amount-minor', '--evidence'],
      ],
      [['disputes', 'get'], ['<dispute-id>']],
      [
        ['disputes', 'list'],
        ['--status', '--payment', '--page-size', '--page-token'],
      ],
      [['disputes', 'withdraw'], ['--reason']],
      [
        ['disputes', 'network-response'],
        ['--response', '--detail'],
      ],
      [['keys'], ['create', 'revoke', 'list', '--database-url']],
      [
        ['keys', 'create'],
        ['--name', '--company'],
      ],
      [
        ['keys', 'revoke'],
        ['[key]', '--name'],
      ],
      [['keys', 'list'], ['--help']],
    ];
    const results = await inBatches(commands, 4, async ([cmd, options]) => ({ cmd, options, r: await cli([...cmd, '--help']) }));
    for (const { cmd, options, r } of results) {
      assert.equal(r.code, 0, `${cmd.join(' ')} --help: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stdout, /^Usage: cli/);
      for (const option of options) assert.ok(r.stdout.includes(option), `${cmd.join(' ')} --help mentions ${option}:\n${r.stdout}`);
    }
  });

  test('bad input exits 2 with a message naming the field, before any call', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['payments', 'authorize', 't1', '--card', card, ...merchant, '--amount-minor', '12.50'],
        /--amount-minor.*must be a positive integer number of minor units/,
      ],
      [['payments', 'authorize', 't1', '--card', card, ...merchant, '--amount-minor', '-5'], /--amount-minor/],
      [
        ['payments', 'clear', 't1', '--card', card, '--event-id', 'c1', '--mcc', '58', '--merchant', 'x', '--amount-minor', '5'],
        /--mcc.*four digits/,
      ],
      [
        ['payments', 'payout', 'p1', '--company', company, '--amount-minor', '1e3', '--payee-name', 'S', '--bank-account', 'US12345678'],
        /--amount-minor/,
      ],
      [
        ['ledger', 'credit-line', '--company', company, '--currency', 'XYZ', '--limit-minor', '5', '--grant-key', 'g'],
        /--currency.*must be one of/,
      ],
      [['payments', 'authorize', 't1', '--amount-minor', '5', ...merchant], /required option '--card/],
      [['payments', 'list', '--page-size', '9999'], /--page-size/],
      [['cards', 'set-spend-limits', card, '--limit', 'year:amount:5'], /--limit.*window: must be one of day, week, month, all_time/],
      [['cards', 'set-spend-limits', card, '--limit', 'day:amount:12.5'], /--limit.*must be <window>:<measure>:<limit>/],
      [['cards', 'set-spend-limits', card, '--limit', 'day:count:2000000'], /--limit.*limit: must be at most 1000000/],
      [['cards', 'set-company-spend-limits', '--company', company, '--limit', 'day:amount:5:58'], /--limit.*mccs.0: must be four digits/],
      [['ledger', 'transfers'], /exactly one of --payment or --account/],
      [['payments', 'nope'], /unknown command 'nope'/],
      // Refused by the API: its message names the field.
      [['payments', 'get', 'bad id!'], /invalid request: payment_id/],
      [['payments', 'list', '--started-after', 'yesterday'], /invalid request: started_after/],
    ];
    const results = await inBatches(cases, 4, async ([args, pattern]) => ({ args, pattern, r: await cli(args) }));
    for (const { args, pattern, r } of results) {
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')} prints nothing on stdout`);
    }
  });

  test('a missing, refused or misdirected key, an unreachable API, a payment not found: clear messages and distinct statuses', async () => {
    const [missing, refused, unreachable, notFound, otherCompany] = await Promise.all([
      cli(['payments', 'get', 'x'], { CARD_API_KEY: undefined }),
      cli(['payments', 'get', 'x', '--key', `cpk_${'a'.repeat(12)}_${'b'.repeat(43)}`]),
      cli(['payments', 'get', 'x', '--api', 'http://127.0.0.1:1']),
      cli(['payments', 'get', `no-such-${run}`]),
      cli(['cards', 'issue', `other-${run}`, '--company', 'someone-else']),
    ]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /no API key: pass --key KEY or set CARD_API_KEY/);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /the API refused the key/);
    assert.equal(unreachable.code, 4, unreachable.stderr);
    assert.match(unreachable.stderr, /cannot reach the API at http:\/\/127\.0\.0\.1:1/);
    assert.equal(notFound.code, 3, notFound.stderr);
    assert.match(notFound.stderr, /payment not found/);
    assert.equal(otherCompany.code, 3, otherCompany.stderr);
    assert.match(otherCompany.stderr, /company not found/);
  });

  test('keys create, list and revoke; the revoked key is refused', async () => {
    const created = await json(['keys', 'create', '--name', `cli-test-${run}`, '--company', company]);
    assert.match(created.api_key, /^cpk_[a-z0-9]{12}_/);
    assert.deepEqual(created.company_ids, [company]);
    const withNewKey = { CARD_API_KEY: created.api_key };
    assert.equal((await json(['cards', 'get', card], withNewKey)).card.cardId, card);

    const listed = await json(['keys', 'list']);
    const row = listed.keys.find((k: { key_id: string }) => k.key_id === created.key_id);
    assert.ok(row, 'the new key is listed');
    assert.equal(row.revoked_at, null);
    assert.ok(!JSON.stringify(listed).includes(created.api_key.split('_').at(-1)), 'no secret listed');

    const revoked = await json(['keys', 'revoke', created.api_key]);
    assert.deepEqual(revoked, { key_id: created.key_id, revoked: 1 });
    const refused = await cli(['cards', 'get', card], withNewKey);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /the API refused the key/);
    const again = await cli(['keys', 'revoke', created.key_id]);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /no unrevoked key/);

    const badCompany = await cli(['keys', 'create', '--name', 'x', '--company', 'no spaces']);
    assert.equal(badCompany.code, 2, badCompany.stderr);
    assert.match(badCompany.stderr, /company_ids/);
    const noDatabase = await cli(['keys', 'list'], { DATABASE_URL: undefined });
    assert.equal(noDatabase.code, 2);
    assert.match(noDatabase.stderr, /no database: pass --database-url or set DATABASE_URL/);
  });
  test("closing a company's credit line: new holds are declined, an open hold is still released", async () => {
    const line = await json([
      'ledger',
      'credit-line',
      '--company',
      company,
      '--currency',
      'EUR',
      '--limit-minor',
      '10000',
      '--grant-key',
      'eur',
    ]);
    const accountId: string = line.account.accountId;
    assert.equal(line.account.closed, false, 'open');
    const eurCard = `cli-eur-${run}`;
    await json(['cards', 'issue', eurCard, '--company', company, '--currency', 'EUR']);
    const eur = ['--card', eurCard, '--currency', 'EUR', ...merchant, '--deadline-ms', '10000'];
    const held = await json(['payments', 'authorize', `eur-held-${run}`, ...eur, '--amount-minor', '700']);
    assert.equal(held.decision.approved, true, JSON.stringify(held));

    const closed = await json(['ledger', 'close-credit-line', accountId]);
    assert.equal(closed.account.closed, true);
    assert.equal(closed.account.debitsPending, '700');
    assert.equal((await json(['ledger', 'close-credit-line', accountId])).account.closed, true, 'closing twice answers the same');
    assert.equal((await json(['ledger', 'account', accountId])).account.closed, true);

    const refused = await json(['payments', 'authorize', `eur-refused-${run}`, ...eur, '--amount-minor', '100']);
    assert.equal(refused.decision.approved, false);
    assert.equal(refused.decision.declineReason, 'account_closed');
    const released = await json(['payments', 'reverse', `eur-held-${run}`, '--event-id', 'rev-all', '--amount-minor', '700']);
    assert.equal(released.payment.heldMinor ?? '0', '0', JSON.stringify(released));
    assert.equal((await json(['ledger', 'account', accountId])).account.debitsPending, '0', 'nothing held');

    const human = await cli(['ledger', 'close-credit-line', accountId]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /closed: yes/);
  });
});
