// The card decision's retry bound (src/workflows/card-payment.ts): attempts that fit in the time
// left before the network's deadline, never unbounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decisionAttemptsMax } from '../../src/workflows/card-payment.js';

test('the attempts fit the budget with the backoff 50, 100, 200, 400, 800, 1000, 1000 ... ms', () => {
  assert.equal(decisionAttemptsMax(0), 1);
  assert.equal(decisionAttemptsMax(50), 1);
  assert.equal(decisionAttemptsMax(51), 2);
  assert.equal(decisionAttemptsMax(1_500), 5); // 50+100+200+400 = 750 < 1500 <= 1550
  assert.equal(decisionAttemptsMax(2_000), 6); // 1550 < 2000 <= 2550
  assert.equal(decisionAttemptsMax(10_000), 14); // 1550 + 8 × 1000 = 9550 < 10000
});

test('it grows with the budget and stays bounded', () => {
  let previous = 1;
  for (let budget_ms = 0; budget_ms <= 200_000; budget_ms += 997) {
    const attempts = decisionAttemptsMax(budget_ms);
    assert.ok(attempts >= previous && attempts <= 100, `${budget_ms} ms: ${attempts}`);
    previous = attempts;
  }
  assert.equal(decisionAttemptsMax(Number.MAX_SAFE_INTEGER), 100);
});
