// The chaos run's overload phase (src/chaos/overload.ts) as pure rules: when it is on, how its rate
// follows the measured capacity, and what its report counts and calls a problem.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PaymentRecord } from '../../src/chaos/driver.js';
import {
  OVERLOAD_DRAIN_S_MAX,
  OVERLOAD_FINISH_FACTOR_MAX,
  OVERLOAD_ON_FROM_PAYMENTS,
  lastPaymentChangeAtMs,
  parseQuietBaseline,
  overloadEnabled,
  overloadRatePerS,
  overloadReport,
} from '../../src/chaos/overload.js';

test('on when asked, off when refused, else from OVERLOAD_ON_FROM_PAYMENTS payments', () => {
  assert.equal(overloadEnabled(true, 10), true);
  assert.equal(overloadEnabled(false, 100_000), false);
  assert.equal(overloadEnabled(undefined, OVERLOAD_ON_FROM_PAYMENTS - 1), false);
  assert.equal(overloadEnabled(undefined, OVERLOAD_ON_FROM_PAYMENTS), true);
});

test('the rate is three times the capacity, at least 1/s; a capacity that is not a rate is refused', () => {
  assert.equal(overloadRatePerS(3.35), 10.1);
  assert.equal(overloadRatePerS(0), 1);
  for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) assert.throws(() => overloadRatePerS(bad), /must be a rate/);
});

function record(phase: PaymentRecord['phase'], authorize_attempts: number | null, stand_in = false): PaymentRecord {
  return {
    index: 0,
    payment_id: 'p',
    kind: 'card_clear',
    amount_minor: 100,
    acked: authorize_attempts === null ? [] : [{ call: 'authorize', attempts: authorize_attempts, at_ms: 0 }],
    expected: null,
    stand_in,
    error: null,
    state: null,
    wait_error: null,
    done: true,
    ...(phase ? { phase } : {}),
  };
}

test('the report counts the overload phase only: in deadline = answered at the first attempt', () => {
  const records = [
    record('overload', 1),
    record('overload', 1, true),
    record('overload', 2), // timed out once (2 s), answered on a retry
    record('overload', null), // never answered
    record(undefined, 1), // the plan's
    record('probe', 3),
  ];
  const { report, problems } = overloadReport(records, {
    rate_per_s: 9,
    seconds: 60,
    engine_rejections: 0,
    drain_s: 30.4,
    final_read_s: 12.6,
    finish_s: 330.4,
    baseline: null,
  });
  assert.deepEqual(report, {
    rate_per_s: 9,
    seconds: 60,
    payments: 4,
    answered_in_deadline_ratio: 0.667,
    stand_in_ratio: 0.333,
    engine_rejections: 0,
    drain_s: 30,
    drain_s_max: OVERLOAD_DRAIN_S_MAX,
    final_read_s: 13,
    finish_s: 330,
    baseline: null,
  });
  assert.deepEqual(problems, []);
});

test('the engine refusing work, or a drain past the bound, is a problem of the run', () => {
  const { problems } = overloadReport([], {
    rate_per_s: 9,
    seconds: 60,
    engine_rejections: 3,
    drain_s: OVERLOAD_DRAIN_S_MAX + 1,
    final_read_s: 0,
    finish_s: 421,
    baseline: null,
  });
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /engine's own limits refused work 3 times/);
  assert.match(problems[1]!, /last changed 121 s after its last send/);
});

test("the drain ends at the newest timeline entry of any payment the checker read, not at the checker's read", () => {
  const at = (iso: string[]) =>
    ({ ...record(undefined, 1), state: { timeline: iso.map((a) => ({ at: a, event: 'e', detail: '' })) } }) as PaymentRecord;
  assert.equal(lastPaymentChangeAtMs([]), null);
  assert.equal(lastPaymentChangeAtMs([record(undefined, 1)]), null, 'a payment never read has no timeline');
  const records = [at(['2026-12-02T10:00:00.000Z', '2026-12-02T10:00:05.250Z']), at(['2026-12-02T10:00:03.000Z']), record(undefined, null)];
  assert.equal(lastPaymentChangeAtMs(records), Date.parse('2026-12-02T10:00:05.250Z'));
  assert.throws(() => lastPaymentChangeAtMs([at(['yesterday'])]), /not a time: yesterday/);
});

test("with a quiet run's baseline, the bound is a factor of its time to finish; a baseline of another plan is refused", () => {
  const plan = { seed: 7, payments: 1500, rate_per_s: 5 };
  const quiet = { ...plan, overload: null, finish_s: 400 };
  const baseline = parseQuietBaseline('quiet.json', quiet, plan);
  assert.equal(baseline.finish_s, 400);
  const input = { rate_per_s: 9, seconds: 60, engine_rejections: 0, drain_s: 150, final_read_s: 10, baseline };
  const within = overloadReport([], { ...input, finish_s: 400 * OVERLOAD_FINISH_FACTOR_MAX });
  assert.deepEqual(within.problems, [], 'a drain past 120 s is no problem when the quiet run took as long');
  assert.deepEqual(within.report.baseline, { file: 'quiet.json', finish_s: 400, finish_s_max: 500 });
  const over = overloadReport([], { ...input, finish_s: 501 });
  assert.match(over.problems[0]!, /finished its work 501 s after its start, over 1.25x the quiet run's 400 s \(quiet.json\)/);
  assert.throws(() => parseQuietBaseline('b.json', { ...quiet, seed: 8 }, plan), /seed 8, this run's is 7: another plan/);
  assert.throws(() => parseQuietBaseline('b.json', { ...quiet, overload: { drain_s: 1 } }, plan), /no quiet baseline/);
  assert.throws(() => parseQuietBaseline('b.json', { ...quiet, finish_s: undefined }, plan), /no finish_s/);
  assert.throws(() => parseQuietBaseline('b.json', null, plan), /not a chaos result/);
});
