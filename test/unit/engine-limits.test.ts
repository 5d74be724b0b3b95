// The platform sheds before the engine's limits (src/engine-limits.ts): its default bounds, at the
// process counts docs/performance.md names, stay under the server's dynamic config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ENGINE_LONG_POLLS_PER_METHOD_MAX, ENGINE_UPDATES_IN_FLIGHT_PER_WORKFLOW_MAX, dynamicConfigArgs } from '../../src/engine-limits.js';
import { AUTHORIZATION_WORKER_TUNING, PAYMENTS_WORKER_TUNING } from '../../src/workers/worker.js';

/** Processes the sizing allows for (docs/performance.md). */
const API_PROCESSES_MAX = 4;
const WORKER_PROCESSES_MAX = 8;

test('per payment: every API process at its bound stays under the in-flight update limit of one workflow', () => {
  const config = loadConfig({});
  assert.ok(config.API_PAYMENT_IN_FLIGHT_MAX * API_PROCESSES_MAX < ENGINE_UPDATES_IN_FLIGHT_PER_WORKFLOW_MAX);
});

test('per namespace: API long requests and worker polls stay under the long-poll limit of each method', () => {
  const config = loadConfig({});
  const polls = (t: typeof AUTHORIZATION_WORKER_TUNING) =>
    (t.maxConcurrentWorkflowTaskPolls ?? 10) + (t.maxConcurrentActivityTaskPolls ?? 10);
  const worker_polls = WORKER_PROCESSES_MAX * (polls(AUTHORIZATION_WORKER_TUNING) + polls(PAYMENTS_WORKER_TUNING));
  const api_long_requests = API_PROCESSES_MAX * config.API_TEMPORAL_IN_FLIGHT_MAX;
  assert.ok(worker_polls < ENGINE_LONG_POLLS_PER_METHOD_MAX / 2, `${worker_polls} worker polls`);
  assert.ok(api_long_requests < ENGINE_LONG_POLLS_PER_METHOD_MAX / 2, `${api_long_requests} API long requests`);
});

test('the dev server gets every value', () => {
  const args = dynamicConfigArgs();
  assert.ok(args.includes('history.maxInFlightUpdates=10'));
  assert.ok(args.includes('frontend.namespaceCount=1200'));
  assert.equal(args.filter((a) => a === '--dynamic-config-value').length, args.length / 2);
});
