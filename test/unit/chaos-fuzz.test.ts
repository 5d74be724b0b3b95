// The chaos fuzzer's case streams (src/chaos/fuzz.ts): the same seed gives the same cases, drawn
// as they are sent, so a long run holds one chunk of cases, not all of them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FUZZ_CHUNK_CASES, fuzzStream, ledgerCaseArbitrary } from '../../src/chaos/fuzz.js';

test('the same seed gives the same cases, across chunk boundaries and out of order', () => {
  const a = fuzzStream(fc.integer(), 42);
  const b = fuzzStream(fc.integer(), 42);
  const indexes = [0, 1, FUZZ_CHUNK_CASES - 1, FUZZ_CHUNK_CASES, 3 * FUZZ_CHUNK_CASES + 7];
  const forward = indexes.map((i) => a(i));
  const backward = [...indexes]
    .reverse()
    .map((i) => b(i))
    .reverse();
  assert.deepEqual(forward, backward);
  // Another seed draws other cases.
  const c = fuzzStream(fc.integer(), 43);
  assert.notDeepEqual(
    indexes.map((i) => c(i)),
    forward,
  );
});

test('chunks differ from one another (no stream repeats its first chunk)', () => {
  const next = fuzzStream(fc.integer({ min: 0, max: 2 ** 30 }), 7);
  const first = Array.from({ length: FUZZ_CHUNK_CASES }, (_, i) => next(i));
  const second = Array.from({ length: FUZZ_CHUNK_CASES }, (_, i) => next(FUZZ_CHUNK_CASES + i));
  assert.notDeepEqual(first, second);
});

test('a bad index is refused', () => {
  const next = fuzzStream(fc.integer(), 1);
  for (const bad of [-1, 0.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
    assert.throws(() => next(bad), /fuzz case index: must be a non-negative integer/);
  }
});

test('a stream of ledger cases yields named cases the fuzzer can run', () => {
  const next = fuzzStream(ledgerCaseArbitrary(), 1204);
  for (let i = 0; i < 2 * FUZZ_CHUNK_CASES; i += 17) {
    const c = next(i);
    assert.equal(typeof c.name, 'string');
    assert.ok(c.name.length > 0);
    assert.equal(typeof c.run, 'function');
  }
});
