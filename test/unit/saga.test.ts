// The saga helper without Temporal: compensations run most recent first, each retried with a
// doubling, capped pause until it succeeds, shielded from cancellation, bounded in attempts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSaga, pauseAfter, retryUntilDone, type RetryPolicy, type SagaHooks } from '../../src/workflows/saga.js';

const POLICY: RetryPolicy = { attempts_max: 5, pause_ms_min: 1_000, pause_ms_max: 3_000 };

function recordingHooks() {
  const log: string[] = [];
  let shielded = 0;
  const hooks: SagaHooks = {
    failed: (name, attempt, err, pause_ms) => log.push(`failed ${name} #${attempt} ${(err as Error).message} pause ${pause_ms}`),
    pause: async (name, pause_ms, next) => void log.push(`pause ${name} ${pause_ms} then #${next}`),
    compensated: (name) => log.push(`compensated ${name}`),
    shielded: async (fn) => {
      shielded += 1;
      return fn();
    },
  };
  return { hooks, log, shielded: () => shielded };
}

describe('pauseAfter', () => {
  test('doubles from the minimum and stops at the maximum', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 100, 10_000].map((a) => pauseAfter(POLICY, a)),
      [1_000, 2_000, 3_000, 3_000, 3_000, 3_000],
    );
  });
  test('refuses an attempt that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => pauseAfter(POLICY, bad), /attempt must be a positive integer/);
  });
});

describe('retryUntilDone', () => {
  test('returns the first success, having paused after each failure', async () => {
    const pauses: number[] = [];
    const failures: number[] = [];
    let calls = 0;
    const value = await retryUntilDone(
      async (attempt) => {
        calls += 1;
        assert.equal(attempt, calls);
        if (attempt < 4) throw new Error(`boom ${attempt}`);
        return 'done';
      },
      POLICY,
      { failed: (attempt) => failures.push(attempt), pause: async (ms) => void pauses.push(ms) },
    );
    assert.equal(value, 'done');
    assert.deepEqual(failures, [1, 2, 3]);
    assert.deepEqual(pauses, [1_000, 2_000, 3_000]);
  });

  test('gives up after attempts_max with the last error, without a pause after it', async () => {
    let pauses = 0;
    await assert.rejects(
      retryUntilDone(
        async (attempt) => {
          throw new Error(`boom ${attempt}`);
        },
        POLICY,
        { failed: () => undefined, pause: async () => void (pauses += 1) },
      ),
      /boom 5/,
    );
    assert.equal(pauses, POLICY.attempts_max - 1);
  });

  test('refuses a policy without bounds', async () => {
    const hooks = { failed: () => undefined, pause: async () => undefined };
    const ok = async () => 1;
    await assert.rejects(retryUntilDone(ok, { ...POLICY, attempts_max: 0 }, hooks), /attempts_max/);
    await assert.rejects(retryUntilDone(ok, { ...POLICY, attempts_max: Infinity }, hooks), /attempts_max/);
    await assert.rejects(retryUntilDone(ok, { ...POLICY, pause_ms_min: 0 }, hooks), /pause_ms_min/);
    await assert.rejects(retryUntilDone(ok, { ...POLICY, pause_ms_max: 10 }, hooks), /pause_ms_max/);
  });
});

describe('createSaga', () => {
  test('runs compensations most recent first, retrying a failing one, inside the shield, once', async () => {
    const { hooks, log, shielded } = recordingHooks();
    const saga = createSaga(POLICY, hooks);
    const ran: string[] = [];
    let postingFailures = 2;
    saga.register('hold', async () => void ran.push('hold'));
    saga.register('posting', async () => {
      if (postingFailures-- > 0) throw new Error('ledger down');
      ran.push('posting');
    });
    assert.deepEqual(saga.pending(), ['posting', 'hold']);
    await saga.compensate();
    assert.deepEqual(ran, ['posting', 'hold']);
    assert.deepEqual(log, [
      'failed posting #1 ledger down pause 1000',
      'pause posting 1000 then #2',
      'failed posting #2 ledger down pause 2000',
      'pause posting 2000 then #3',
      'compensated posting',
      'compensated hold',
    ]);
    assert.equal(shielded(), 1);
    assert.deepEqual(saga.pending(), []);
    await saga.compensate();
    assert.deepEqual(ran, ['posting', 'hold'], 'a compensation runs once');
  });

  test('a forgotten compensation does not run; names are unique', async () => {
    const { hooks } = recordingHooks();
    const saga = createSaga(POLICY, hooks);
    const ran: string[] = [];
    saga.register('hold', async () => void ran.push('hold'));
    assert.throws(() => saga.register('hold', async () => undefined), /already registered/);
    saga.forget('hold');
    assert.throws(() => saga.forget('hold'), /not registered/);
    await saga.compensate();
    assert.deepEqual(ran, []);
  });

  test('a compensation that never succeeds is thrown after attempts_max; the rest stay pending', async () => {
    const { hooks } = recordingHooks();
    const saga = createSaga({ ...POLICY, attempts_max: 3 }, hooks);
    saga.register('hold', async () => undefined);
    saga.register('posting', async () => {
      throw new Error('still broken');
    });
    await assert.rejects(saga.compensate(), /still broken/);
    assert.deepEqual(saga.pending(), ['posting', 'hold']);
  });
});

describe('retryUntilDone with a retryable filter', () => {
  test('a failure that is not retryable is thrown at once, without a pause', async () => {
    let pauses = 0;
    let calls = 0;
    await assert.rejects(
      retryUntilDone(
        async () => {
          calls += 1;
          throw new Error(calls === 1 ? 'transient' : 'final');
        },
        POLICY,
        { retryable: (err) => (err as Error).message === 'transient', failed: () => undefined, pause: async () => void (pauses += 1) },
      ),
      /final/,
    );
    assert.equal(calls, 2);
    assert.equal(pauses, 1);
  });
});
