// The short chaos run of `npm test` (issue 7): ~100 mixed payments through the gRPC API while
// workers, the API and the Temporal dev server are killed with SIGKILL and Postgres is crashed,
// database connections are dropped and the bank misbehaves, with bad input fuzzed meanwhile
// (src/chaos/). Nothing may be lost or booked twice, every payment must finish, every invariant
// must hold, the ledger must reconcile, every planned fault must have been played (at least one of
// each kind), every path must reach its final state, and memory is sampled for every process; an
// overload phase (issue 14 point 7: purchases with the network's 2 s deadline at a set rate, briefly) must change
// none of that. The seed is fixed so a failure reproduces with
// `npm run chaos -- --payments 100 --seed 20261125 --overload --overload-rate 10 --overload-seconds 5`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { testEnv } from '../support/env.js';

const SEED = 20261125;
const PAYMENTS = 100;
const RUN_TIMEOUT_MS = 280_000;

test(
  `chaos: ${PAYMENTS} payments under worker kills, restarts, dropped connections, bank faults and bad input`,
  { timeout: RUN_TIMEOUT_MS + 20_000 },
  async () => {
    const out = path.join(testEnv.scratchDir, `chaos-${SEED}.json`);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(REPO_ROOT, 'src', 'chaos', 'main.ts'),
        '--payments',
        String(PAYMENTS),
        '--seed',
        String(SEED),
        '--out',
        out,
        '--final-timeout-s',
        '120',
        // The overload phase, cheaply: 10 purchases/s for 5 s (a set rate: no capacity probe,
        // whose purchases take seconds each on a busy machine; long runs probe).
        '--overload',
        '--overload-rate',
        '10',
        '--overload-seconds',
        '5',
      ],
      // The run's children use the test run's payload keys (PAYLOAD_CODEC_KEYS, set by test/run.ts).
      { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    const lines = stdout.trim().split('\n');
    const context = `exit ${code}; stderr ends with:\n${stderr.split('\n').slice(-40).join('\n')}`;
    assert.ok(stderr.includes(`seed ${SEED}`), `the seed is printed; ${context}`);
    const last = JSON.parse(lines.at(-1) ?? '{}');
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), last, 'the file holds the JSON of the last line');
    assert.equal(last.seed, SEED);
    assert.equal(last.payments, PAYMENTS);
    assert.equal(last.lost, 0, context);
    assert.equal(last.duplicated_transfers, 0, context);
    assert.equal(last.invariant_violations, 0, `${JSON.stringify(last.problems)}; ${context}`);
    assert.equal(last.not_final, 0, context);
    // The overload phase: its purchases checked like every payment, the
    // engine's own limits never what refused work, and the run finished in time after it.
    assert.equal(last.capacity_probe, null, 'a set rate: no probe');
    assert.deepEqual([last.overload.rate_per_s, last.overload.payments], [10, 50], JSON.stringify(last.overload));
    assert.equal(last.engine_rejections, 0);
    assert.ok(last.overload.drain_s <= last.overload.drain_s_max, JSON.stringify(last.overload));
    assert.equal(last.payments_sent, PAYMENTS + last.overload.payments);
    assert.equal(last.final, last.payments_sent);
    // Faults counted as they happened: every planned fault played, at least one of each kind.
    assert.deepEqual(last.faults_played, last.faults_planned, `every planned fault was played: ${JSON.stringify(last.fault_log)}`);
    for (const kind of ['worker_kill', 'temporal_kill', 'api_kill', 'database_crash', 'connection_drop']) {
      assert.ok(last.faults_played[kind] >= 1, `at least one ${kind}: ${JSON.stringify(last.faults_played)}`);
    }
    assert.ok(last.faults_played.worker_kill >= PAYMENTS / 100, 'one worker kill per 100 payments at least');
    assert.ok(last.faults.gateway_faults >= 1, `the bank misbehaved: ${JSON.stringify(last.faults.gateway)}`);
    assert.equal(last.faults.gateway.permanent_rejections, undefined, 'a payout the bank rejects is a path, not a fault');
    // Real crashes: the dev server SIGKILLed, Postgres SIGKILLed (the first crash of a run).
    const log = (last.fault_log as string[]).join('\n');
    assert.match(log, /SIGKILL Temporal dev server/);
    assert.match(log, /Postgres SIGKILL of the postmaster group/);
    assert.ok(last.faults.connections_dropped >= 1, 'connections were terminated');
    // The whole ledger reconciles with the acknowledged outcomes.
    assert.equal(last.reconciled, true, JSON.stringify(last.problems));
    // Every path reached its own final state often enough.
    for (const [kind, c] of Object.entries(last.coverage as Record<string, { planned: number; reached: number; ok: boolean }>)) {
      assert.ok(c.ok && c.planned >= 1, `path ${kind}: ${JSON.stringify(c)}`);
    }
    assert.ok(
      last.authorizations.stand_in <= last.authorizations.acknowledged / 2,
      `most authorizations were not stood in: ${JSON.stringify(last.authorizations)}`,
    );
    // Resident memory sampled for every long-running process.
    for (const name of ['worker-0', 'worker-1', 'api', 'temporal', 'postgres', 'chaos']) {
      assert.ok(last.rss_mb_max[name] > 0, `rss of ${name}: ${JSON.stringify(last.rss_mb_max)}`);
    }
    // The fault log, for --replay: the faults as struck, and the bank's draws.
    const faultLog = JSON.parse(readFileSync(last.fault_log_file, 'utf8'));
    assert.equal(faultLog.seed, SEED);
    assert.equal(faultLog.faults.length, last.fault_log.length);
    assert.equal(faultLog.bank_draws.length, last.bank_draws.drawn);
    assert.ok(faultLog.bank_draws.length > 0);
    assert.ok(last.fuzz.api_calls > 0 && last.fuzz.ledger_calls > 0, 'the fuzzers ran under the load');
    assert.equal(code, 0, context);
  },
);
