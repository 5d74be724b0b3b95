// Ordinary declines are logged at info, not as warnings: the activity logging interceptor and the
// SDK logger bridge both tell a business outcome (HoldDeclined, SettlementRejected, InvalidPayment)
// from a fault.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityExecuteInput } from '@temporalio/worker';
import { BUSINESS_FAILURE_TYPES } from '../../src/domain/payment.js';
import type { Logger } from '../../src/logger.js';
import { ActivityLoggingInterceptor } from '../../src/workers/activity-logging.js';
import { createSdkLogger } from '../../src/workers/sdk-logger.js';

type Line = { level: string; message: string };

function interceptorLines(err: Error): Promise<Line[]> {
  const lines: Line[] = [];
  const log = {
    info: (message: string) => lines.push({ level: 'info', message }),
    warn: (message: string) => lines.push({ level: 'warn', message }),
  };
  const interceptor = new ActivityLoggingInterceptor({ log } as unknown as Context);
  const input = { args: [{ payment_id: 'p-1' }] } as unknown as ActivityExecuteInput;
  return interceptor
    .execute(input, () => Promise.reject(err))
    .then(
      () => assert.fail('the failure is rethrown'),
      (thrown: unknown) => {
        assert.equal(thrown, err, 'the failure is rethrown unchanged');
        return lines;
      },
    );
}

test('the activity interceptor: a decline or a rejection at info, a fault at warn', async () => {
  for (const type of Object.values(BUSINESS_FAILURE_TYPES)) {
    const lines = await interceptorLines(ApplicationFailure.nonRetryable('declined', type));
    assert.deepEqual(lines, [{ level: 'info', message: 'activity ended with a business outcome' }], type);
  }
  assert.deepEqual(await interceptorLines(new Error('connection reset')), [{ level: 'warn', message: 'activity failed' }]);
  assert.deepEqual(await interceptorLines(ApplicationFailure.nonRetryable('bad', 'LedgerUnexpectedResult')), [
    { level: 'warn', message: 'activity failed' },
  ]);
});

test('the SDK\'s own "Activity failed" warning: info for a business outcome, warn otherwise', () => {
  const lines: Line[] = [];
  const at = (level: string) => (_meta: object, message: string) => lines.push({ level, message });
  const pinoLike = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const sdk = createSdkLogger(pinoLike as unknown as Logger);
  sdk.warn('Activity failed', { error: ApplicationFailure.nonRetryable('no funds', BUSINESS_FAILURE_TYPES.holdDeclined) });
  sdk.warn('Activity failed', { error: new Error('timeout') });
  sdk.warn('something else', {});
  sdk.error('Activity failed', { error: ApplicationFailure.nonRetryable('no funds', BUSINESS_FAILURE_TYPES.holdDeclined) });
  assert.deepEqual(lines, [
    { level: 'info', message: 'Activity failed' },
    { level: 'warn', message: 'Activity failed' },
    { level: 'warn', message: 'something else' },
    { level: 'error', message: 'Activity failed' },
  ]);
});
