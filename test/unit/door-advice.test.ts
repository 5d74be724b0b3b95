// The stand-in advice after a door answer (src/api/door-advice.ts): never waits, runs at most
// in_flight_max signals, drops past pending_max, retries a failed signal, counts what happened.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDoorAdvice, type DoorAdviceOutcome } from '../../src/api/door-advice.js';

test('bounded: in flight and pending are limited, the excess is dropped and counted', async () => {
  let running = 0;
  let running_max = 0;
  const gates: Array<() => void> = [];
  const advice = createDoorAdvice(
    async (payment_id): Promise<DoorAdviceOutcome> => {
      running += 1;
      running_max = Math.max(running_max, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running -= 1;
      return payment_id.startsWith('known') ? 'advised' : 'not_started';
    },
    { in_flight_max: 2, pending_max: 3, attempts_max: 1, backoff_ms: 1 },
  );
  for (const id of ['known-1', 'new-1', 'known-2', 'new-2', 'known-3', 'dropped-1']) advice.advise(id, 'decline');
  assert.equal(running, 2);
  assert.equal(advice.counts.dropped, 1, 'two in flight, three pending: the sixth is dropped');
  while (advice.counts.advised + advice.counts.not_started < 5) {
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  await advice.idle();
  assert.equal(running_max, 2);
  assert.deepEqual({ ...advice.counts }, { advised: 3, not_started: 2, dropped: 1, failed: 0 });
});

test('a failing signal is tried attempts_max times, then counted failed', async () => {
  let calls = 0;
  const advice = createDoorAdvice(
    async (): Promise<DoorAdviceOutcome> => {
      calls += 1;
      if (calls < 3) throw new Error('UNAVAILABLE');
      return 'advised';
    },
    { in_flight_max: 1, pending_max: 10, attempts_max: 3, backoff_ms: 1 },
  );
  advice.advise('p1', 'decline');
  await advice.idle();
  assert.deepEqual([calls, advice.counts.advised, advice.counts.failed], [3, 1, 0]);
  calls = -10; // every try fails now
  advice.advise('p2', 'approve');
  await advice.idle();
  assert.equal(advice.counts.failed, 1);
});

test('bad limits are refused', () => {
  assert.throws(
    () => createDoorAdvice(async () => 'advised', { in_flight_max: 0, pending_max: 1, attempts_max: 1, backoff_ms: 1 }),
    /in_flight_max: must be a positive integer/,
  );
});
