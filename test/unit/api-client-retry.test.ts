// The CLI's and demo's API client (src/cli/client.ts): which answers it retries, how long it waits,
// and that every retry is bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { REFUSED_CALL_ATTEMPTS_MAX, UNAVAILABLE_CALL_ATTEMPTS_MAX, retryWaitMs } from '../../src/cli/client.js';

const refused = (pushback_ms?: number) =>
  new ConnectError(
    'at its limit',
    Code.ResourceExhausted,
    pushback_ms === undefined ? {} : { 'grpc-retry-pushback-ms': String(pushback_ms) },
  );

test('RESOURCE_EXHAUSTED waits the hint, up to its attempt limit', () => {
  assert.equal(retryWaitMs(refused(700), 1), 700);
  assert.equal(retryWaitMs(refused(), 1), 250);
  assert.equal(retryWaitMs(refused(700), REFUSED_CALL_ATTEMPTS_MAX - 1), 700);
  assert.equal(retryWaitMs(refused(700), REFUSED_CALL_ATTEMPTS_MAX), null);
});

test('UNAVAILABLE is retried a few times with growing, jittered waits', () => {
  const unavailable = new ConnectError('a dependency is unavailable; retry with the same ids', Code.Unavailable);
  const waits: number[] = [];
  for (let attempt = 1; attempt < UNAVAILABLE_CALL_ATTEMPTS_MAX; attempt += 1) {
    const low = retryWaitMs(unavailable, attempt, () => 0);
    const high = retryWaitMs(unavailable, attempt, () => 1);
    assert.ok(low !== null && high !== null && low > 0 && low < high, `attempt ${attempt}: ${low}..${high}`);
    waits.push(high);
  }
  assert.ok(
    waits.every((w, i) => i === 0 || w > waits[i - 1]!),
    `waits grow: ${waits.join(', ')}`,
  );
  assert.equal(retryWaitMs(unavailable, UNAVAILABLE_CALL_ATTEMPTS_MAX), null);
});

test('every other answer is final', () => {
  for (const code of [
    Code.InvalidArgument,
    Code.NotFound,
    Code.AlreadyExists,
    Code.Unauthenticated,
    Code.Internal,
    Code.DeadlineExceeded,
  ]) {
    assert.equal(retryWaitMs(new ConnectError('no', code), 1), null, Code[code]);
  }
  assert.equal(retryWaitMs(new Error('not a Connect error'), 1), null);
});
