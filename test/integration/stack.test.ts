// `npm start` as a user runs it: the supervisor process with its own data folder and ports, the
// demo against it, Ctrl-C, a second start that still has the payments; and the start-up faults
// (port taken, missing Temporal CLI, database refusing connections), each a clear line with
// nothing left running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { REPO_ROOT } from '../../src/config.js';
import { freePort } from '../../src/stack/ports.js';
import { isAlive } from '../../src/stack/processes.js';
import { readStackFile } from '../../src/stack/stack-file.js';
import { freshDatabase, testEnv } from '../support/env.js';
import { pidsOf, stackEnv, waitForUp } from '../support/npm-start.js';
import { tsx, type Started } from '../support/tsx-process.js';

/** The fenced block of README.md between `<!-- readme-example:<name>:begin -->` and its end marker. */
function readmeExample(name: string): string {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const match = new RegExp(
    `<!-- readme-example:${name}:begin -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\`\\n<!-- readme-example:${name}:end -->`,
  ).exec(readme);
  assert.ok(match, `README.md has the ${name} example between its markers`);
  return match[1]!;
}

/** Runs a shell script as a user would paste it, from the repository root. */
function bash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const running: Started[] = [];
after(async () => {
  // Never leave a platform behind, even when an assertion failed mid-test.
  for (const s of running) {
    if (s.child.exitCode === null) {
      s.child.kill('SIGINT');
      await s.exited;
    }
  }
});

describe('npm start', () => {
  test('runs the platform, the demo reaches every final state, Ctrl-C stops everything, data survives', async () => {
    const env = await stackEnv();
    const first = tsx('src/stack/start.ts', env);
    running.push(first);
    await waitForUp(first);

    const stack = readStackFile(env.DATA_DIR!);
    assert.ok(stack, 'stack.json written');
    assert.equal(stack.temporal, `127.0.0.1:${env.TEMPORAL_PORT}`);
    assert.equal(stack.ui, `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`);
    assert.match(stack.database, /^postgres:\/\//);
    assert.equal(stack.settlement_callback, `http://127.0.0.1:${env.SETTLEMENT_CALLBACK_PORT}/v1/settlement-callbacks`);
    // The worker serves the callback receiver; the simulator confirms the demo's payouts to it.
    assert.equal((await fetch(new URL('/healthz', stack.settlement_callback))).status, 200, 'the callback receiver answers');
    const ui = await fetch(stack.ui!);
    assert.equal(ui.status, 200, 'the Web UI answers');
    // The API answers Connect JSON with the local key from stack.json, and refuses without it.
    assert.equal(stack.api, `http://127.0.0.1:${env.API_PORT}`);
    const getPayment = (auth: Record<string, string>) =>
      fetch(`${stack.api}/cardplatform.payments.v1.PaymentService/GetPayment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ paymentId: 'no-such-payment' }),
      });
    assert.equal((await getPayment({})).status, 401);
    const missing = await getPayment({ authorization: `Bearer ${stack.api_key}` });
    assert.equal(missing.status, 404, await missing.clone().text());
    assert.equal(((await missing.json()) as { code: string }).code, 'not_found');

    // Payloads are encrypted with a key npm start created (owner-only), and the codec server the
    // Web UI is pointed at decodes for the UI's origin, and for others only with the token.
    assert.equal(statSync(path.join(env.DATA_DIR!, 'payload-codec-keys')).mode & 0o777, 0o600);
    // Bank callbacks are verified with a secret npm start created (owner-only, shared with the
    // simulator, which signs): an unsigned one is refused.
    assert.equal(statSync(path.join(env.DATA_DIR!, 'settlement-callback-secret')).mode & 0o777, 0o600);
    const unsigned = await fetch(stack.settlement_callback!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(unsigned.status, 401);
    assert.equal(stack.codec_server, `http://127.0.0.1:${env.CODEC_SERVER_PORT}`);
    const decode = (headers: Record<string, string>) =>
      fetch(`${stack.codec_server}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"payloads":[]}',
      });
    const fromUi = await decode({ origin: stack.ui! });
    assert.equal(fromUi.status, 200);
    assert.equal(fromUi.headers.get('access-control-allow-origin'), stack.ui);
    assert.equal((await decode({ origin: 'http://elsewhere.example' })).status, 403);
    assert.equal((await decode({})).status, 401);
    assert.equal((await decode({ authorization: `Bearer ${stack.codec_server_token}` })).status, 200);
    const uiSettings = (await (await fetch(`${stack.ui}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    assert.equal(uiSettings.Codec?.Endpoint, stack.codec_server, 'the Web UI decodes with the codec server');

    const demo = tsx('src/demo/demo.ts', env, ['--payments', '9', '--json']);
    assert.equal(await demo.exited, 0, demo.stderr() + demo.stdout());
    const summary = JSON.parse(demo.stdout().trim().split('\n').at(-1)!);
    assert.equal(summary.payments, 9);
    assert.equal(summary.terminal, 9);
    assert.equal(summary.unexpected, 0);
    assert.equal(summary.invariants_ok, true);
    // The billing cycle: two first statements closed; the direct debit paid one, the other went
    // past due and was paid by transfer (a second cycle may have closed before the demo ended).
    assert.ok(summary.statements.closed >= 2, JSON.stringify(summary.statements));
    assert.ok(summary.statements.paid >= 2, JSON.stringify(summary.statements));
    assert.ok(summary.statements.past_due >= 1, JSON.stringify(summary.statements));
    // On a busy machine an authorization can miss its 2 s deadline: the stand-in declines it
    // (counted apart), so that payment's path ends DECLINED instead.
    const finalStates = ['COMPENSATED', 'DECLINED', 'EXPIRED', 'REFUNDED', 'REVERSED', 'SETTLED'];
    if (summary.stand_in === 0) assert.deepEqual(Object.keys(summary.by_status).sort(), finalStates);
    else
      assert.ok(
        Object.keys(summary.by_status).every((s) => finalStates.includes(s)),
        JSON.stringify(summary),
      );

    // The metrics endpoints in stack.json expose the SDK's and the platform's series.
    assert.ok(stack.metrics, 'stack.json lists the metrics endpoints');
    const workerMetrics = await (await fetch(stack.metrics.worker)).text();
    for (const series of [
      'temporal_workflow_completed',
      'temporal_activity_execution_latency_bucket',
      'ledger_batch_transfers_bucket',
      'ledger_batch_latency_ms_bucket',
      'card_authorization_decision_ms_bucket',
      'card_authorization_decisions',
      'payment_transitions',
      'payment_compensations',
    ]) {
      assert.match(workerMetrics, new RegExp(`^${series}[{ ]`, 'm'), `worker metrics expose ${series}`);
    }
    // Structured logs: every activity line carries the payment, workflow and run ids.
    const workerLog = readFileSync(path.join(env.DATA_DIR!, 'logs', 'worker.log'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const activityLine = workerLog.find((l) => l.msg === 'activity completed');
    assert.ok(activityLine, 'the worker logs activity completions');
    for (const field of ['payment_id', 'workflowId', 'workflowRunId', 'activityType'])
      assert.ok(activityLine[field], `activity log lines carry ${field}`);
    const workflowLine = workerLog.find((l) => l.msg === 'payment transition');
    assert.ok(
      workflowLine?.workflowId && workflowLine.runId && workflowLine.payment_id,
      'workflow log lines carry payment, workflow and run ids',
    );
    const apiMetrics = await (await fetch(stack.metrics.api)).text();
    for (const series of ['api_requests_total', 'api_request_duration_ms_bucket']) {
      assert.match(apiMetrics, new RegExp(`^${series}[{ ]`, 'm'), `API metrics expose ${series}`);
    }

    // The Web UI's own API (what its pages call) lists the payments with their search attributes.
    const listed = await fetch(`${stack.ui}/api/v1/namespaces/default/workflows?query=${encodeURIComponent("PaymentKind = 'payout'")}`);
    assert.equal(listed.status, 200);
    const executions = ((await listed.json()) as { executions?: Array<{ execution: { workflowId: string } }> }).executions ?? [];
    // The demo's 3 payouts, and the 2 its billing cycle spends with (`<company>-supplies`).
    const supplies = executions.filter((e) => e.execution.workflowId.endsWith('-supplies'));
    assert.equal(executions.length - supplies.length, 3, 'the Web UI lists the 3 payouts');
    assert.equal(supplies.length, 2, "the Web UI lists the billing cycle's 2 payouts");
    assert.ok(executions.every((e) => e.execution.workflowId.startsWith('payment-demo-')));

    const pids = pidsOf(env.DATA_DIR!);
    assert.equal(pids.length, 4, 'postgres, temporal, worker and api pid files');
    first.child.kill('SIGINT');
    assert.equal(await first.exited, 0, first.stderr());
    assert.deepEqual(pids.filter(isAlive), [], 'no process left behind');
    assert.equal(readStackFile(env.DATA_DIR!), null, 'stack.json removed');

    const second = tsx('src/stack/start.ts', env);
    running.push(second);
    await waitForUp(second);
    const connection = await Connection.connect({ address: `127.0.0.1:${env.TEMPORAL_PORT}` });
    try {
      const client = new Client({ connection });
      const { count } = await client.workflow.count(`PaymentKind = 'payout' AND ExecutionStatus = 'Completed'`);
      assert.equal(count, 5, "the first run's payouts are still there (the demo's 3 and its billing cycle's 2)");
    } finally {
      await connection.close();
    }
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.stderr());
  });

  test("the README's CLI and curl examples work as written", async () => {
    const env = await stackEnv();
    for (const name of ['CARD_API_URL', 'CARD_API_KEY']) delete env[name];
    const s = tsx('src/stack/start.ts', env);
    running.push(s);
    await waitForUp(s);
    const stack = readStackFile(env.DATA_DIR!)!;
    // Only where this stack is differs from a default `npm start`.
    const here = (script: string) =>
      script.replaceAll('./data/stack.json', path.join(env.DATA_DIR!, 'stack.json')).replaceAll('http://127.0.0.1:7470', stack.api!);

    const cli = await bash(here(readmeExample('cli')), env);
    assert.equal(cli.code, 0, cli.stderr + cli.stdout);
    assert.match(cli.stdout, /^status\s+SETTLED$/m, 'the purchase and the payout settle');
    assert.match(cli.stdout, /"transfers":\[\{/, 'the transfers as JSON');
    const curl = await bash(here(readmeExample('curl')), env);
    assert.equal(curl.code, 0, curl.stderr + curl.stdout);
    const body = JSON.parse(curl.stdout) as { payment: { paymentId: string; status: string; postedMinor: string } };
    assert.equal(body.payment.paymentId, 'acme-txn-1');
    assert.equal(body.payment.status, 'SETTLED');
    assert.equal(body.payment.postedMinor, '1250');

    s.child.kill('SIGINT');
    assert.equal(await s.exited, 0, s.stderr());
  });

  test('with TEMPORAL_ADDRESS and DATABASE_URL it starts only the worker and simulator, and payments run', async () => {
    const { url, pool } = await freshDatabase('stack_external');
    await pool.end();
    const env: NodeJS.ProcessEnv = {
      ...(await stackEnv()),
      DATABASE_URL: url,
      TEMPORAL_ADDRESS: testEnv.temporalAddress,
      TEMPORAL_TASK_QUEUE: `external-${randomUUID()}`,
    };
    const s = tsx('src/stack/start.ts', env);
    running.push(s);
    await waitForUp(s);
    assert.doesNotMatch(s.stderr(), /embedded Postgres|Temporal dev server/, 'nothing embedded was started');
    const stack = readStackFile(env.DATA_DIR!);
    assert.equal(stack?.temporal, testEnv.temporalAddress);
    assert.equal(stack?.database, url);
    assert.equal(stack?.ui, null);
    const demo = tsx('src/demo/demo.ts', env, ['--payments', '3', '--json']);
    assert.equal(await demo.exited, 0, demo.stderr() + demo.stdout());
    assert.equal(JSON.parse(demo.stdout().trim().split('\n').at(-1)!).terminal, 3);
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0, s.stderr());
    assert.deepEqual(pidsOf(env.DATA_DIR!).filter(isAlive), []);
  });

  test('a taken port: one clear line, nothing started', async () => {
    const env = await stackEnv();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(Number(env.TEMPORAL_PORT), '127.0.0.1', () => r()));
    try {
      const s = tsx('src/stack/start.ts', env);
      running.push(s);
      assert.equal(await s.exited, 1);
      assert.match(s.stderr(), new RegExp(`port ${env.TEMPORAL_PORT} \\(Temporal frontend\\) is already in use: .*set TEMPORAL_PORT`));
      assert.equal(existsSync(path.join(env.DATA_DIR!, 'postgres')), false, 'no database was started');
    } finally {
      blocker.close();
    }
  });

  test('a missing Temporal CLI: says what to install, starts nothing', async () => {
    const env: NodeJS.ProcessEnv = { ...(await stackEnv()), TEMPORAL_CLI_PATH: '/nonexistent/temporal' };
    const s = tsx('src/stack/start.ts', env);
    running.push(s);
    assert.equal(await s.exited, 1);
    assert.match(s.stderr(), /TEMPORAL_CLI_PATH=\/nonexistent\/temporal is not an executable file/);
    assert.equal(existsSync(path.join(env.DATA_DIR!, 'postgres')), false, 'no database was started');
  });

  test('a database refusing connections: says so, leaves nothing running', async () => {
    const env: NodeJS.ProcessEnv = { ...(await stackEnv()), DATABASE_URL: `postgres://nobody:x@127.0.0.1:${await freePort()}/payments` };
    const s = tsx('src/stack/start.ts', env);
    running.push(s);
    assert.equal(await s.exited, 1);
    assert.match(
      s.stderr(),
      /cannot use the database at postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:\d+\/payments: .*ECONNREFUSED.*Check that it is running/,
    );
    assert.deepEqual(pidsOf(env.DATA_DIR!).filter(isAlive), []);
  });
});
