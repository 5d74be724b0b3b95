import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

test('defaults fill an empty environment', () => {
  const config = loadConfig({});
  assert.equal(config.TEMPORAL_PORT, 7233);
  assert.equal(config.TEMPORAL_UI_PORT, 8233);
  assert.equal(config.DATABASE_URL, undefined);
  assert.equal(config.TEMPORAL_TASK_QUEUE, 'payments');
  assert.equal(config.TEMPORAL_WORKFLOW_STACK_TRACES, 'off');
});

test('a bad value names the variable and the rule', () => {
  assert.throws(
    () => loadConfig({ TEMPORAL_PORT: '70000' }),
    (err: Error) => err instanceof ConfigError && /TEMPORAL_PORT/.test(err.message),
  );
  assert.throws(() => loadConfig({ TEMPORAL_ADDRESS: 'localhost' }), /TEMPORAL_ADDRESS: must be host:port/);
  assert.throws(() => loadConfig({ DATABASE_URL: 'not a url' }), /DATABASE_URL/);
  assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
  // The SDK itself reads it as "on or not"; a misspelt `on` must stop the worker, not mean off.
  assert.throws(() => loadConfig({ TEMPORAL_WORKFLOW_STACK_TRACES: 'yes' }), /TEMPORAL_WORKFLOW_STACK_TRACES/);
});

test('empty strings count as unset', () => {
  assert.equal(loadConfig({ DATABASE_URL: '', TEMPORAL_ADDRESS: '' }).DATABASE_URL, undefined);
});
