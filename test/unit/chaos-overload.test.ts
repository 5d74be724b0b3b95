// The chaos run's overload phase (src/chaos/overload.ts) as pure rules: when it is on, how its rate
// follows the measured capacity, and what its report counts and calls a problem.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PaymentRecord } from '../../src/chaos/driver.js';
import {
  OVERLOAD_DRAIN_S_MAX,
  OVERLOAD_ON_FROM_PAYMENTS,
  lastPaymentChangeAtMs,
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
