// The stand-in advice after a door answer (src/api/door-advice.ts), over an in-memory store (the
// Postgres store and a relay taking over a dead process's advices: test/integration/api-admission
// .test.ts): never waits at the door, bounded writes and signals, NOT_FOUND final only after the
// settle time, failed signals tried again with backoff, counts what happened.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DOOR_ADVICE_DEFAULT,
  createDoorAdvice,
  type DoorAdviceLimits,
  type DoorAdviceOutcome,
  type OwedAdvice,
  type StandInAdviceStore,
} from '../../src/api/door-advice.js';

interface Row extends OwedAdvice {
  next_attempt_ms: number;
}

/** The store's rules (first stand-in kept, settle time pushed back, leases) in memory, on `clock`. */
function memoryStore(clock: { now_ms: number }) {
  const rows = new Map<string, Row>();
  let add_gate: Promise<void> | null = null;
  const store: StandInAdviceStore & { rows: typeof rows; holdAdds(gate: Promise<void> | null): void } = {
    rows,
    holdAdds(gate) {
      add_gate = gate;
    },
    async add({ payment_id, stand_in, settle_after_ms }) {
      if (add_gate) await add_gate;
      const row = rows.get(payment_id);
      if (row) row.settle_after_ms = Math.max(row.settle_after_ms, settle_after_ms);
      else rows.set(payment_id, { payment_id, stand_in, settle_after_ms, attempts: 0, next_attempt_ms: clock.now_ms });
    },
    async claim(limit, lease_ms) {
      const due = [...rows.values()].filter((r) => r.next_attempt_ms <= clock.now_ms).slice(0, limit);
      for (const r of due) r.next_attempt_ms = clock.now_ms + lease_ms;
      return due.map(({ payment_id, stand_in, settle_after_ms, attempts }) => ({ payment_id, stand_in, settle_after_ms, attempts }));
    },
    async settle(payment_id) {
      rows.delete(payment_id);
    },
    async retryLater(payment_id, delay_ms, failed) {
      const row = rows.get(payment_id)!;
      row.next_attempt_ms = clock.now_ms + delay_ms;
      if (failed) row.attempts += 1;
    },
  };
  return store;
}

const LIMITS: DoorAdviceLimits = { ...DOOR_ADVICE_DEFAULT, in_flight_max: 2, claim_max: 4, inserts_in_flight_max: 3 };
const settled = () => new Promise((r) => setImmediate(r));
/** The advice over `store`, on the test's clock. */
const adviceOn = (clock: { now_ms: number }, store: StandInAdviceStore, send: Parameters<typeof createDoorAdvice>[0]) =>
  createDoorAdvice(send, store, LIMITS, undefined, () => clock.now_ms);

test('the door never waits: the advice is written, then delivered by the relay and no longer owed', async () => {
  const clock = { now_ms: 1_000_000 };
  const store = memoryStore(clock);
  const sent: string[] = [];
  const advice = adviceOn(clock, store, async (payment_id, stand_in) => {
    sent.push(`${payment_id}:${stand_in}`);
    return 'advised';
  });
  let gate!: () => void;
  store.holdAdds(new Promise<void>((resolve) => (gate = resolve)));
  advice.advise('p1', 'decline', clock.now_ms + 2_000); // returns at once, the write in flight
  assert.equal(store.rows.size, 0);
  gate();
  store.holdAdds(null);
  await settled();
  assert.equal(store.rows.get('p1')?.settle_after_ms, clock.now_ms + 2_000 + LIMITS.settle_grace_ms);
  advice.advise('p1', 'decline', clock.now_ms + 9_000); // a later retry's door answer: later settle time
  await settled();
  assert.equal(store.rows.get('p1')?.settle_after_ms, clock.now_ms + 9_000 + LIMITS.settle_grace_ms);
  assert.equal(await advice.relay(), 1);
  assert.deepEqual(sent, ['p1:decline']);
  assert.equal(store.rows.size, 0);
  assert.deepEqual({ ...advice.counts }, { owed: 2, advised: 1, not_started: 0, dropped: 0, failed_attempts: 0 });
});

test('NOT_FOUND is final only after the settle time: an advice that overtakes the start still lands', async () => {
  const clock = { now_ms: 1_000_000 };
  const store = memoryStore(clock);
  const started = new Set<string>();
  const advice = adviceOn(clock, store, async (payment_id) => (started.has(payment_id) ? 'advised' : 'not_started'));
  advice.advise('overtaken', 'decline', clock.now_ms + 2_000);
  advice.advise('never', 'decline', clock.now_ms + 2_000);
  await settled();
  await advice.relay();
  assert.equal(store.rows.size, 2, 'not found before the settle time: both still owed');
  assert.equal(store.rows.get('overtaken')!.next_attempt_ms, clock.now_ms + LIMITS.not_found_retry_ms);
  assert.equal(await advice.relay(), 0, 'nothing due before the retry delay');
  started.add('overtaken'); // the earlier delivery's start lands now
  clock.now_ms += LIMITS.not_found_retry_ms;
  await advice.relay();
  assert.equal(advice.counts.advised, 1);
  assert.deepEqual([...store.rows.keys()], ['never']);
  // Past the settle time, NOT_FOUND settles the advice: nothing reached Temporal.
  clock.now_ms += 2_000 + LIMITS.settle_grace_ms;
  await advice.relay();
  assert.equal(advice.counts.not_started, 1);
  assert.equal(store.rows.size, 0);
});

test('a failing signal is tried again with doubling backoff, up to backoff_ms_max, until delivered', async () => {
  const clock = { now_ms: 1_000_000 };
  const store = memoryStore(clock);
  let failures_left = 7;
  const advice = adviceOn(clock, store, async (): Promise<DoorAdviceOutcome> => {
    if (failures_left > 0) {
      failures_left -= 1;
      throw new Error('UNAVAILABLE');
    }
    return 'advised';
  });
  advice.advise('p1', 'decline', clock.now_ms);
  await settled();
  const delays: number[] = [];
  for (let pass = 0; pass < 8; pass++) {
    await advice.relay();
    const row = store.rows.get('p1');
    if (!row) break;
    delays.push(row.next_attempt_ms - clock.now_ms);
    clock.now_ms = row.next_attempt_ms;
  }
  assert.deepEqual(delays, [250, 500, 1_000, 2_000, 4_000, 8_000, 10_000]);
  assert.deepEqual({ ...advice.counts }, { owed: 1, advised: 1, not_started: 0, dropped: 0, failed_attempts: 7 });
});

test('bounded: writes in flight and signals in flight are limited; a pass claims at most claim_max', async () => {
  const clock = { now_ms: 1_000_000 };
  const store = memoryStore(clock);
  let running = 0;
  let running_max = 0;
  const advice = adviceOn(clock, store, async () => {
    running += 1;
    running_max = Math.max(running_max, running);
    await settled();
    running -= 1;
    return 'advised';
  });
  let gate!: () => void;
  store.holdAdds(new Promise<void>((resolve) => (gate = resolve)));
  for (let i = 0; i < 5; i++) advice.advise(`p${i}`, 'decline', clock.now_ms);
  assert.equal(advice.counts.dropped, 2, 'three writes in flight: the fourth and fifth are dropped');
  gate();
  store.holdAdds(null);
  await settled();
  for (let i = 5; i < 8; i++) advice.advise(`p${i}`, 'decline', clock.now_ms);
  await settled();
  assert.equal(store.rows.size, 6);
  assert.equal(await advice.relay(), LIMITS.claim_max);
  assert.equal(running_max, LIMITS.in_flight_max);
  assert.equal(await advice.relay(), 2);
  assert.deepEqual({ ...advice.counts }, { owed: 6, advised: 6, not_started: 0, dropped: 2, failed_attempts: 0 });
});

test('a write the store refuses is dropped and counted; bad limits are refused', async () => {
  const clock = { now_ms: 1_000_000 };
  const store = memoryStore(clock);
  store.add = async () => {
    throw new Error('the database is busy');
  };
  const advice = adviceOn(clock, store, async () => 'advised');
  advice.advise('p1', 'decline', clock.now_ms);
  await advice.stop();
  assert.equal(advice.counts.dropped, 1);
  assert.throws(
    () => createDoorAdvice(async () => 'advised', store, { ...LIMITS, in_flight_max: 0 }),
    /in_flight_max: must be a positive integer/,
  );
  assert.throws(() => createDoorAdvice(async () => 'advised', store, { ...LIMITS, lease_ms: 5_000 }), /lease_ms: must be longer/);
});
