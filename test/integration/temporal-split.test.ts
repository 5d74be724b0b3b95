// Server mode split into services (TEMPORAL_SERVICES=split): frontend, matching, worker and two
// history processes, each with its own ports and membership. One history process is killed with
// SIGKILL in the middle of payments: its shards move to the other, the supervisor restarts it, and
// every payment still reaches the final state of its path exactly once, with the ledger verified.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { isAlive } from '../../src/stack/processes.js';
import { readStackFile } from '../../src/stack/stack-file.js';
import { embeddedAdminUrl, pidsOf, stackEnv, waitForUp } from '../support/npm-start.js';
import { tsx, type Started } from '../support/tsx-process.js';

const PAYMENTS = 36;

const running: Started[] = [];
after(async () => {
  for (const s of running) {
    if (s.child.exitCode === null) {
      s.child.kill('SIGINT');
      await s.exited;
    }
  }
});

async function until<T>(what: string, check: () => Promise<T | null | false> | T | null | false, timeout_ms: number): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await check();
    if (value !== null && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeout_ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Each shard's range id: the server increments it whenever a history process takes the shard. */
async function shardRanges(temporalDatabaseUrl: string): Promise<Map<number, bigint>> {
  const client = new pg.Client({ connectionString: temporalDatabaseUrl });
  await client.connect();
  try {
    const rows = await client.query('SELECT shard_id, range_id::text FROM shards');
    return new Map(rows.rows.map((r) => [r.shard_id as number, BigInt(r.range_id as string)]));
  } finally {
    await client.end();
  }
}

test('split services: SIGKILL of a history process mid-payments; shards move, it is restarted, every payment completes once', async () => {
  const env: NodeJS.ProcessEnv = { ...(await stackEnv()), TEMPORAL_MODE: 'server', TEMPORAL_SERVICES: 'split' };
  const s = tsx('src/stack/start.ts', env);
  running.push(s);
  await waitForUp(s);
  assert.match(s.stdout(), /server, split services, 16 history shards/);

  const stack = readStackFile(env.DATA_DIR!)!;
  const processes = stack.temporal_processes!;
  assert.deepEqual(
    processes.map((p) => p.service),
    ['history-1', 'history-2', 'matching', 'frontend', 'worker', 'ui'],
  );
  const grpcPorts = processes.flatMap((p) => (p.grpc_port === null ? [] : [p.grpc_port]));
  assert.equal(new Set(grpcPorts).size, 5, 'each service process has its own gRPC port');
  assert.ok(processes.every((p) => isAlive(p.pid)));
  // One generated config per server process.
  for (const name of ['history-1', 'history-2', 'matching', 'frontend', 'worker']) {
    const config = JSON.parse(readFileSync(path.join(env.DATA_DIR!, 'temporal-server', name, 'server.yaml'), 'utf8'));
    assert.equal(config.persistence.numHistoryShards, 16);
  }
  const before = await shardRanges(embeddedAdminUrl(env, 'temporal'));
  assert.equal(before.size, 16, 'the two history processes own every shard');

  const demo = tsx('src/demo/demo.ts', env, ['--payments', String(PAYMENTS), '--concurrency', '12', '--json']);
  const connection = await Connection.connect({ address: stack.temporal });
  try {
    const client = new Client({ connection });
    await until('the first payments', async () => (await client.workflow.count(`PaymentKind IS NOT NULL`)).count >= 8, 120_000);
  } finally {
    await connection.close();
  }

  const victim = processes.find((p) => p.service === 'history-1')!;
  process.kill(victim.pid, 'SIGKILL');

  // The other history process takes the dead one's shards (their range ids move on).
  const moved = await until(
    "the dead process's shards to move",
    async () => {
      const now = await shardRanges(embeddedAdminUrl(env, 'temporal'));
      const count = [...now].filter(([shard, range]) => range > (before.get(shard) ?? 0n)).length;
      return count > 0 ? count : null;
    },
    120_000,
  );
  assert.ok(moved >= 1, `${moved} shards moved`);

  // The supervisor restarts the killed process.
  await until('the supervisor to restart history-1', () => /Temporal history-1 exited .*restarting it/.test(s.stderr()), 60_000);
  const pidFile = path.join(env.DATA_DIR!, 'logs', 'temporal-history-1.pid');
  const restartedPid = await until(
    'the new history-1 process',
    () => {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      return pid !== victim.pid && isAlive(pid) ? pid : null;
    },
    30_000,
  );
  assert.notEqual(restartedPid, victim.pid);
  const listed = readStackFile(env.DATA_DIR!)!.temporal_processes!.find((p) => p.service === 'history-1');
  assert.equal(listed?.pid, restartedPid, 'stack.json lists the restarted process');

  // Every payment reaches the final state of its path, its transfers agree with it (exactly
  // once), and the ledger's invariants hold: the demo checks all three and exits 0 only then.
  assert.equal(await demo.exited, 0, demo.stderr() + demo.stdout());
  const summary = JSON.parse(demo.stdout().trim().split('\n').at(-1)!);
  assert.equal(summary.payments, PAYMENTS);
  assert.equal(summary.terminal, PAYMENTS);
  assert.equal(summary.unexpected, 0);
  assert.equal(summary.invariants_ok, true);

  const pids = pidsOf(env.DATA_DIR!);
  s.child.kill('SIGINT');
  assert.equal(await s.exited, 0, s.stderr());
  assert.deepEqual(pids.filter(isAlive), [], 'no process left behind');
});
