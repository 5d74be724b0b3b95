// The chaos run's fault accounting and reproduction (src/chaos/): a fault counts as played only when
// it struck something; the plan's database crashes are real crashes; the fault log round-trips and
// a replay answers the bank's draws in the recorded order; path coverage refuses stood-in runs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { pathCoverage } from '../../src/chaos/coverage.js';
import type { PaymentRecord } from '../../src/chaos/driver.js';
import { FaultInjector, unplayedFaults } from '../../src/chaos/faults.js';
import { MemorySampler, RSS_MB_LIMIT, judgeMemory } from '../../src/chaos/memory.js';
import { BankDraws, faultLog, readFaultLog, writeFaultLog } from '../../src/chaos/replay.js';
import { countByKind, planChaos, type ScheduledFault } from '../../src/chaos/schedule.js';
import { type ChaosStack } from '../../src/chaos/stack.js';
import { distinctFreePorts } from '../../src/stack/ports.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-faults-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stack whose processes are all gone already: every kill finds nothing, no connection is open. */
const emptyStack = {
  killWorker: async () => false,
  killTemporal: async () => false,
  killApi: async () => false,
  crashPostgres: async () => false,
  dropConnections: async () => 0,
} as unknown as ChaosStack;

const fault = (kind: ScheduledFault['kind'], extra: Partial<ScheduledFault> = {}): ScheduledFault => ({
  at_ms: 0,
  kind,
  target: 0,
  down_ms: 0,
  ...extra,
});

test('a fault that found nothing to strike is planned but not played', async () => {
  const planned = [fault('worker_kill'), fault('temporal_kill'), fault('api_kill'), fault('database_crash'), fault('connection_drop')];
  const injector = new FaultInjector(emptyStack, () => undefined);
  await injector.run(planned, performance.now());
  assert.deepEqual(countByKind(planned), { worker_kill: 1, temporal_kill: 1, api_kill: 1, database_crash: 1, connection_drop: 1 });
  assert.deepEqual(injector.played, { worker_kill: 0, temporal_kill: 0, api_kill: 0, database_crash: 0, connection_drop: 0 });
  assert.ok(injector.log.every((e) => !e.played));
  const problems = unplayedFaults(countByKind(planned), injector.log);
  assert.match(problems.join('\n'), /fault worker_kill: planned 1, played 0/);
  assert.match(problems.join('\n'), /not played at .*SIGKILL Temporal dev server/);
  assert.deepEqual(unplayedFaults(countByKind([]), []), [], 'nothing planned, nothing missing');
});

test('a fault that struck counts once; connections count as terminated', async () => {
  const stack = { ...emptyStack, killWorker: async () => true, dropConnections: async () => 3 } as unknown as ChaosStack;
  const injector = new FaultInjector(stack, () => undefined);
  await injector.run([fault('worker_kill'), fault('connection_drop'), fault('api_kill')], performance.now());
  assert.deepEqual(injector.played, { worker_kill: 1, temporal_kill: 0, api_kill: 0, database_crash: 0, connection_drop: 1 });
  assert.equal(injector.connections_dropped, 3);
});

test("the plan's database crashes are crashes: SIGKILL first, then immediate shutdown, alternately", () => {
  const plan = planChaos({ seed: 7, payments: 4_000, rate_per_s: 5, workers: 2 });
  const modes = plan.faults.filter((f) => f.kind === 'database_crash').map((f) => f.mode);
  assert.deepEqual(modes, ['sigkill', 'immediate', 'sigkill']);
  assert.ok(plan.faults.every((f) => f.kind === 'database_crash' || f.mode === undefined));
});

test('the fault log round-trips, and a replay answers the recorded bank draws first, in order', async () => {
  const source = (() => {
    let x = 0;
    return () => (x = (x + 0.37) % 1);
  })();
  const bank = new BankDraws(source);
  const drawn = [bank.next(), bank.next(), bank.next()];
  const injector = new FaultInjector({ ...emptyStack, killWorker: async () => true } as unknown as ChaosStack, () => undefined);
  await injector.run([fault('worker_kill', { at_ms: 0, target: 1, down_ms: 300 })], performance.now());
  const file = path.join(dir, 'run.faults.json');
  writeFaultLog(file, faultLog({ seed: 5, payments: 10, rate_per_s: 5, workers: 2 }, injector.log, bank));
  const log = readFaultLog(file);
  assert.deepEqual(log.bank_draws, drawn);
  assert.equal(log.faults.length, 1);
  assert.deepEqual({ ...log.faults[0], at_ms: 0 }, { kind: 'worker_kill', at_ms: 0, target: 1, down_ms: 300 });

  const replay = new BankDraws(() => 0.999, log.bank_draws);
  assert.deepEqual([replay.next(), replay.next(), replay.next(), replay.next()], [...drawn, 0.999]);
  assert.equal(replay.replayed, 3);
});

test('a malformed fault log is refused with the reason', () => {
  const file = path.join(dir, 'bad.json');
  const base = { version: 1, seed: 1, payments: 1, rate_per_s: 1, workers: 1, faults: [], bank_draws: [] };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, version: 2 }, /version 2/],
    [{ ...base, faults: [{ kind: 'meteor', at_ms: 0, target: 0, down_ms: 0 }] }, /faults\[0\]\.kind "meteor"/],
    [{ ...base, faults: [{ kind: 'api_kill', at_ms: -1, target: 0, down_ms: 0 }] }, /faults\[0\]\.at_ms/],
    [{ ...base, bank_draws: [1.5] }, /bank_draws must be numbers in \[0, 1\)/],
    [{ ...base, seed: 'x' }, /seed must be a non-negative integer/],
  ];
  for (const [content, reason] of cases) {
    writeFileSync(file, JSON.stringify(content));
    assert.throws(() => readFaultLog(file), reason);
  }
  writeFileSync(file, '{not json');
  assert.throws(() => readFaultLog(file), /fault log .*bad\.json/);
});

test('coverage: a path counts only payments that reached its own final state without a stand-in', () => {
  const record = (kind: PaymentRecord['kind'], status: string, stand_in = false) =>
    ({ kind, done: true, stand_in, state: { status }, acked: [{ call: 'authorize' }] }) as unknown as PaymentRecord;
  const settled = Array.from({ length: 8 }, () => record('card_clear', 'SETTLED'));
  const good = pathCoverage([...settled, record('card_clear', 'DECLINED', true), record('card_clear', 'DECLINED', true)]);
  assert.deepEqual(good.paths.card_clear, { planned: 10, reached: 8, reached_min: 2, ok: true });
  assert.equal(good.ok, true, 'paths the run did not plan need nothing');
  assert.deepEqual([good.authorizations, good.stand_ins], [10, 2]);
  const broken = pathCoverage([...settled, ...Array.from({ length: 5 }, () => record('card_refund', 'SETTLED'))]);
  assert.equal(broken.paths.card_refund.ok, false, 'a path that never reaches its state fails');
  assert.match(broken.problems.join('\n'), /path card_refund: 0 of 5 reached REFUNDED, at least 1 must/);
  const stoodIn = pathCoverage([...settled.slice(0, 3), ...Array.from({ length: 4 }, () => record('card_clear', 'DECLINED', true))]);
  assert.equal(stoodIn.paths.card_clear.ok, true);
  assert.equal(stoodIn.ok, false, 'most authorizations stood in: the run fails');
  assert.match(stoodIn.problems.join('\n'), /the stand-in answered 4 of 7 authorizations/);
  const declines = pathCoverage([record('card_decline', 'DECLINED', true)]);
  assert.equal(declines.paths.card_decline.ok, false, 'a stand-in decline does not show the decline path');
});

test("the run's ports are distinct: a worker never gets the same port twice", async () => {
  const ports = await distinctFreePorts(20);
  assert.equal(new Set(ports).size, 20);
  assert.ok(ports.every((p) => Number.isInteger(p) && p > 0));
});

test('memory: peaks per process name; a process over the limit or growing steeply fails the run', () => {
  const flat = Array.from({ length: 60 }, (_, i) => 200 + (i % 5));
  const growing = Array.from({ length: 60 }, (_, i) => 100 + i * 15);
  const ok = judgeMemory(
    new Map([
      ['worker-0 11', flat],
      ['worker-0 12', [250]],
      ['api 13', flat],
    ]),
  );
  assert.deepEqual(ok, { rss_mb_max: { 'worker-0': 250, api: 204 }, ok: true, problems: [] });
  const leak = judgeMemory(new Map([['worker-1 21', growing]]));
  assert.equal(leak.ok, false);
  assert.match(leak.problems[0]!, /worker-1 21: grew from \d+ MB to \d+ MB over 60 samples/);
  const big = judgeMemory(new Map([['temporal 31', [RSS_MB_LIMIT + 1]]]));
  assert.match(big.problems[0]!, /over the 2048 MB limit/);
});

test('memory: the sampler reads the resident memory of live processes', async () => {
  const sampler = new MemorySampler(() => [{ name: 'self', pid: process.pid }], 100);
  sampler.start();
  await new Promise((r) => setTimeout(r, 350));
  const report = sampler.stop();
  assert.ok(report.samples >= 3, `sampled ${report.samples} times`);
  assert.ok(report.rss_mb_max.self! > 10 && report.rss_mb_max.chaos! > 10, JSON.stringify(report.rss_mb_max));
});
