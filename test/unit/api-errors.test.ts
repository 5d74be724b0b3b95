// The API's one mapping from failures to gRPC codes (src/api/rpc/errors.ts): the engine's own
// refusals are never answered INTERNAL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code } from '@connectrpc/connect';
import { WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import pino from 'pino';
import { toConnectError } from '../../src/api/rpc/errors.js';
import { DatabaseBusyError } from '../../src/ledger/db.js';

const silent = pino({ level: 'silent' });

/** What the Temporal client throws when the server refuses an update with RESOURCE_EXHAUSTED:
 * a service error whose cause carries the gRPC status code 8. */
function engineRefusal(message: string): Error {
  const grpc = Object.assign(new Error(`8 RESOURCE_EXHAUSTED: ${message}`), { code: 8, details: message });
  return new Error('Unexpected error while making gRPC request', { cause: grpc });
}

test("the engine's RESOURCE_EXHAUSTED is RESOURCE_EXHAUSTED with a retry hint, not INTERNAL", () => {
  for (const message of [
    'limit on number of concurrent in-flight updates has been reached (10)',
    'namespace concurrent poller limit exceeded',
  ]) {
    const answer = toConnectError(engineRefusal(message), silent, 'Authorize');
    assert.equal(answer.code, Code.ResourceExhausted, message);
    assert.match(answer.message, /retry with the same ids/);
    const pushback = Number(answer.metadata.get('grpc-retry-pushback-ms'));
    assert.ok(Number.isSafeInteger(pushback) && pushback > 0, `retry hint ${pushback}`);
  }
});

test('an error with no known cause is still INTERNAL', () => {
  assert.equal(toConnectError(new Error('a bug'), silent, 'GetPayment').code, Code.Internal);
});

test("a full database pool's refusal is RESOURCE_EXHAUSTED with a retry hint, not UNAVAILABLE", () => {
  const answer = toConnectError(new DatabaseBusyError('every database connection is busy'), silent, 'Authorize');
  assert.equal(answer.code, Code.ResourceExhausted);
  assert.match(answer.message, /nothing was done: retry with the same ids/);
  assert.ok(Number(answer.metadata.get('grpc-retry-pushback-ms')) > 0);
});

test("a Temporal call the API cancelled at the caller's deadline is DEADLINE_EXCEEDED; a query with every worker down is UNAVAILABLE", () => {
  // As the Temporal client reports them (seen as INTERNAL by a chaos run's clients).
  const cancelledQuery = new Error('Failed to query Workflow: 1 CANCELLED: Cancelled on client', {
    cause: Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }),
  });
  assert.equal(toConnectError(cancelledQuery, silent, 'GetPayment').code, Code.DeadlineExceeded);
  const cancelledUpdate = new WorkflowUpdateRPCTimeoutOrCancelledError('Cancelled on client: 1 CANCELLED: Cancelled on client');
  assert.equal(toConnectError(cancelledUpdate, silent, 'Clear').code, Code.DeadlineExceeded);
  const noPoller = new Error(
    'Failed to query Workflow: 9 FAILED_PRECONDITION: no poller seen for task queue recently, worker may be down',
    {
      cause: Object.assign(new Error('9 FAILED_PRECONDITION: no poller seen for task queue recently, worker may be down'), { code: 9 }),
    },
  );
  const answer = toConnectError(noPoller, silent, 'Clear');
  assert.equal(answer.code, Code.Unavailable);
  assert.match(answer.message, /retry with the same ids/);
});
