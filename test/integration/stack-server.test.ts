// `npm start` on the real Temporal server (server mode) as a user runs it: the server on the
// platform's Postgres with its Web UI server and the codec endpoint, the demo through every final
// state, Ctrl-C with nothing left running, a restart (by the command-line flag) that finds the
// payments, and a changed shard count refused with a clear error.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { isAlive } from '../../src/stack/processes.js';
import { readStackFile } from '../../src/stack/stack-file.js';
import { HISTORY_SHARDS_DEFAULT } from '../../src/stack/temporal-server-config.js';
import { testEnv } from '../support/env.js';
import { embeddedAdminUrl, pidsOf, stackEnv, waitForUp } from '../support/npm-start.js';
import { tsx, type Started } from '../support/tsx-process.js';

const running: Started[] = [];
after(async () => {
  for (const s of running) {
    if (s.child.exitCode === null) {
      s.child.kill('SIGINT');
      await s.exited;
    }
  }
});

describe('npm start in server mode', () => {
  test('runs the real Temporal server on Postgres; demo, Ctrl-C, restart by flag, shard count fixed', async () => {
    const env: NodeJS.ProcessEnv = { ...(await stackEnv()), TEMPORAL_MODE: 'server' };
    const first = tsx('src/stack/start.ts', env);
    running.push(first);
    await waitForUp(first);
    assert.match(first.stdout(), /server, one process, 16 history shards/);

    const stack = readStackFile(env.DATA_DIR!);
    assert.ok(stack, 'stack.json written');
    assert.equal(stack.temporal_mode, 'server');
    assert.equal(stack.temporal, `127.0.0.1:${env.TEMPORAL_PORT}`);
    assert.deepEqual(
      stack.temporal_processes?.map((p) => [p.service, p.grpc_port]),
      [
        ['frontend,history,matching,worker', Number(env.TEMPORAL_PORT)],
        ['ui', null],
      ],
    );
    assert.ok(stack.temporal_processes.every((p) => isAlive(p.pid)));

    // The server's databases sit next to the ledger's, on the platform's Postgres.
    const admin = new pg.Client({ connectionString: embeddedAdminUrl(env, 'temporal') });
    await admin.connect();
    try {
      const shards = await admin.query('SELECT count(*)::int AS n FROM shards');
      assert.equal(shards.rows[0].n, HISTORY_SHARDS_DEFAULT, 'every history shard was acquired');
      const databases = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'temporal%' ORDER BY datname`);
      assert.deepEqual(
        databases.rows.map((r) => r.datname),
        ['temporal', 'temporal_visibility'],
      );
    } finally {
      await admin.end();
    }

    // The Web UI server answers on TEMPORAL_UI_PORT and decodes with the codec server.
    assert.equal(stack.ui, `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`);
    const settings = (await (await fetch(`${stack.ui}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    assert.equal(settings.Codec?.Endpoint, stack.codec_server);
    const fromUi = await fetch(`${stack.codec_server}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.ui! },
      body: '{"payloads":[]}',
    });
    assert.equal(fromUi.status, 200, 'the codec server accepts the Web UI origin');

    const demo = tsx('src/demo/demo.ts', env, ['--payments', '9', '--json']);
    assert.equal(await demo.exited, 0, demo.stderr() + demo.stdout());
    const summary = JSON.parse(demo.stdout().trim().split('\n').at(-1)!);
    assert.equal(summary.terminal, 9);
    assert.equal(summary.unexpected, 0);
    assert.equal(summary.invariants_ok, true);

    // Visibility on Postgres: the Web UI's API lists the payouts by search attribute.
    const listed = await fetch(`${stack.ui}/api/v1/namespaces/default/workflows?query=${encodeURIComponent("PaymentKind = 'payout'")}`);
    assert.equal(listed.status, 200);
    const executions = ((await listed.json()) as { executions?: Array<{ execution: { workflowId: string } }> }).executions ?? [];
    // The demo's 3 payouts, and the 2 its billing cycle spends with (`<company>-supplies`).
    const supplies = executions.filter((e) => e.execution.workflowId.endsWith('-supplies'));
    assert.equal(executions.length - supplies.length, 3, 'the Web UI lists the 3 payouts');
    assert.equal(supplies.length, 2, "the Web UI lists the billing cycle's 2 payouts");

    const pids = pidsOf(env.DATA_DIR!);
    assert.equal(pids.length, 5, 'postgres, temporal server, Web UI server, worker and api pid files');
    first.child.kill('SIGINT');
    assert.equal(await first.exited, 0, first.stderr());
    assert.deepEqual(pids.filter(isAlive), [], 'no process left behind');
    assert.equal(readStackFile(env.DATA_DIR!), null, 'stack.json removed');

    // The flag instead of the variable; the schema steps find everything in place.
    const { TEMPORAL_MODE: _, ...withoutMode } = env;
    const second = tsx('src/stack/start.ts', withoutMode, ['--temporal', 'server']);
    running.push(second);
    await waitForUp(second);
    assert.equal(readStackFile(env.DATA_DIR!)?.temporal_mode, 'server');
    const connection = await Connection.connect({ address: `127.0.0.1:${env.TEMPORAL_PORT}` });
    try {
      const client = new Client({ connection });
      const { count } = await client.workflow.count(`PaymentKind = 'payout' AND ExecutionStatus = 'Completed'`);
      assert.equal(count, 5, "the first run's payouts are still there (the demo's 3 and its billing cycle's 2)");
      const info = await connection.workflowService.getClusterInfo({});
      assert.equal(info.historyShardCount, HISTORY_SHARDS_DEFAULT);
    } finally {
      await connection.close();
    }
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.stderr());

    // The shard count is the cluster's for good: a different one is refused before anything runs.
    const third = tsx('src/stack/start.ts', { ...env, TEMPORAL_HISTORY_SHARDS: '8' });
    running.push(third);
    assert.equal(await third.exited, 1);
    assert.match(
      third.stderr(),
      /TEMPORAL_HISTORY_SHARDS=8, but the Temporal cluster in database temporal was created with 16 history shards/,
    );
    assert.deepEqual(pidsOf(env.DATA_DIR!).filter(isAlive), [], 'nothing left running');
  });

  test("TEMPORAL_DATABASE_URL: Temporal's databases on a Postgres of their own", async () => {
    // The harness's Postgres plays Temporal's own server; npm start's embedded one keeps the ledger.
    const env: NodeJS.ProcessEnv = { ...(await stackEnv()), TEMPORAL_MODE: 'server', TEMPORAL_DATABASE_URL: testEnv.databaseUrl };
    const s = tsx('src/stack/start.ts', env);
    running.push(s);
    await waitForUp(s);
    const stack = readStackFile(env.DATA_DIR!)!;
    const databases = async (url: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(`SELECT datname FROM pg_database WHERE datname IN ('temporal', 'temporal_visibility')`)).rows.length;
      } finally {
        await client.end();
      }
    };
    assert.equal(await databases(testEnv.databaseUrl), 2, "Temporal's databases are on TEMPORAL_DATABASE_URL's server");
    assert.equal(await databases(stack.database), 0, "and not on the ledger's");
    const demo = tsx('src/demo/demo.ts', env, ['--payments', '3', '--json']);
    assert.equal(await demo.exited, 0, demo.stderr() + demo.stdout());
    s.child.kill('SIGINT');
    assert.equal(await s.exited, 0, s.stderr());
  });
});
