// The decisions that answer repeated authorizations (src/api/decided-authorizations.ts) as pure
// bookkeeping: an entry answers until its time is up or another message drops it; the oldest goes
// first past the bound; a stand-in is never kept; bad limits are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDecidedAuthorizations } from '../../src/api/decided-authorizations.js';

const approved = (held_minor: number) => ({
  card_id: 'card-1',
  amount_minor: held_minor,
  decision: { approved: true, stand_in: false, held_minor },
});

test('an entry answers until its time is up, and not after', () => {
  const decided = createDecidedAuthorizations({ entries_max: 10, ttl_ms: 1_000 });
  decided.remember('p1', approved(500), 10_000);
  assert.deepEqual(decided.get('p1', 10_999), approved(500));
  assert.equal(decided.get('p1', 11_000), undefined);
  assert.equal(decided.size, 0, 'an expired entry is dropped when found');
  assert.equal(decided.get('never', 10_000), undefined);
});

test('forget drops an entry (another message changed what the payment holds)', () => {
  const decided = createDecidedAuthorizations({ entries_max: 10, ttl_ms: 1_000 });
  decided.remember('p1', approved(500), 0);
  decided.forget('p1');
  decided.forget('p1'); // nothing to drop: no error
  assert.equal(decided.get('p1', 1), undefined);
});

test('bounded: past entries_max the oldest goes first; remembering again makes an entry young', () => {
  const decided = createDecidedAuthorizations({ entries_max: 2, ttl_ms: 1_000 });
  decided.remember('p1', approved(1), 0);
  decided.remember('p2', approved(2), 0);
  decided.remember('p1', approved(1), 1);
  decided.remember('p3', approved(3), 2);
  assert.equal(decided.size, 2);
  assert.equal(decided.get('p2', 3), undefined, 'p2 was the oldest');
  assert.deepEqual(decided.get('p1', 3), approved(1));
  assert.deepEqual(decided.get('p3', 3), approved(3));
});

test('a stand-in is the API’s answer, not the payment’s decision: refused', () => {
  const decided = createDecidedAuthorizations();
  assert.throws(
    () => decided.remember('p1', { card_id: 'c', amount_minor: 1, decision: { approved: false, stand_in: true, held_minor: 0 } }),
    /stand-in is not the payment/,
  );
  assert.equal(decided.size, 0);
});

test('bad limits are refused', () => {
  for (const limits of [
    { entries_max: 0, ttl_ms: 1 },
    { entries_max: 1.5, ttl_ms: 1 },
    { entries_max: 1, ttl_ms: 0 },
    { entries_max: 1, ttl_ms: Number.NaN },
  ]) {
    assert.throws(() => createDecidedAuthorizations(limits), /must be a positive integer/, JSON.stringify(limits));
  }
});
