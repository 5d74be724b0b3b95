// The API's retries into Temporal (src/api/temporal-connection.ts): bounded in count, never past
// the call's deadline, and paid from a process-wide budget, so a failing Temporal sees about a
// tenth more traffic from retries, not three times as much.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status, Metadata } from '@grpc/grpc-js';
import {
  API_TEMPORAL_ATTEMPTS_MAX,
  RETRY_BUDGET_TOKENS_MAX,
  apiCallRetryOptions,
  createRetryBudget,
} from '../../src/api/temporal-connection.js';

const unavailable = { code: status.UNAVAILABLE, details: 'down', metadata: new Metadata() };
const notFound = { code: status.NOT_FOUND, details: 'no', metadata: new Metadata() };

test('retries what is retryable, up to the attempt bound', () => {
  const budget = createRetryBudget();
  const options = apiCallRetryOptions(Date.now() + 10_000, budget);
  assert.equal(options.retryableDecider(1, unavailable), true);
  const delay = options.delayFunction(1, unavailable);
  assert.ok(delay >= 100 && delay <= 250, `first pause ${delay} ms`);
  assert.equal(options.retryableDecider(API_TEMPORAL_ATTEMPTS_MAX, unavailable), false);
  assert.equal(options.retryableDecider(1, notFound), false);
});

test('never retries past the deadline', () => {
  const now = 1_000_000;
  const budget = createRetryBudget();
  const options = apiCallRetryOptions(now + 100, budget, () => now);
  assert.equal(options.retryableDecider(1, unavailable), false, 'a 100 ms pause and an attempt do not fit in 100 ms');
  assert.equal(budget.tokens, RETRY_BUDGET_TOKENS_MAX, 'a refused retry costs nothing');
  assert.equal(apiCallRetryOptions(now + 400, budget, () => now).retryableDecider(1, unavailable), true);
});

test('the budget: once spent, a retry needs ten new calls', () => {
  const budget = createRetryBudget();
  const retry = () => apiCallRetryOptions(Number.POSITIVE_INFINITY, budget).retryableDecider(1, unavailable);
  for (let i = 0; i < RETRY_BUDGET_TOKENS_MAX; i += 1) assert.equal(retry(), true);
  assert.equal(retry(), false, 'spent');
  for (let i = 0; i < 9; i += 1) budget.earn();
  assert.equal(retry(), false, 'nine calls earn 0.9 of a retry');
  budget.earn();
  assert.equal(retry(), true);
  // 1,000 failing calls: at most ~100 retries (plus the saved-up ones), not 2,000.
  let retries = 0;
  for (let i = 0; i < 1_000; i += 1) {
    budget.earn();
    for (let attempt = 1; attempt < API_TEMPORAL_ATTEMPTS_MAX; attempt += 1) {
      if (apiCallRetryOptions(Number.POSITIVE_INFINITY, budget).retryableDecider(attempt, unavailable)) retries += 1;
    }
  }
  assert.ok(retries <= 100 + RETRY_BUDGET_TOKENS_MAX, `${retries} retries`);
});
