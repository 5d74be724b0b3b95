// One mapping from what goes wrong to the gRPC code the caller sees. Refusals of bad input are
// INVALID_ARGUMENT naming the field; what the caller may not see is NOT_FOUND; a server or
// database that cannot be reached is UNAVAILABLE (safe to retry with the same ids); only a bug is
// INTERNAL, and its details stay in the log.
import { Code, ConnectError } from '@connectrpc/connect';
import { WorkflowNotFoundError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { pino, type Logger } from 'pino';
import { CardInputError } from '../../cards/cards.js';
import { DatabaseBusyError } from '../../ledger/db.js';
import { LedgerInputError } from '../../ledger/ledger.js';
import { AuthorizationConflictError, CardEventRefusedError, CardStepFailedError } from '../card-payments.js';
import { InvalidPaymentError } from '../payments.js';
import { DisputeKeyConflictError, DisputeRefusedError, InvalidDisputeError } from '../disputes.js';

export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

export function notFound(what: string): ConnectError {
  return new ConnectError(`${what} not found`, Code.NotFound);
}

/** A call the front door refused (src/api/admission.ts): nothing was done; the retry hint travels
 * as gRPC's server pushback (`grpc-retry-pushback-ms`) and HTTP's `retry-after` (whole seconds). */
export function resourceExhausted(reason: string, retry_after_ms: number): ConnectError {
  return new ConnectError(
    `the platform is at its limit (${reason}), nothing was done: retry with the same ids after ${retry_after_ms} ms`,
    Code.ResourceExhausted,
    { 'grpc-retry-pushback-ms': String(retry_after_ms), 'retry-after': String(Math.max(1, Math.ceil(retry_after_ms / 1000))) },
  );
}

/** Postgres and Node socket errors that mean "the database is not there right now"; Temporal's
 * "Workflow Task in failed state" (a query or update while the payment's workflow task is being
 * retried, e.g. after a worker died), "consistent query buffer is full" and "no poller seen for
 * task queue recently" (a query while every worker is down) pass too. */
const UNAVAILABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01',
  '57P03',
  '08006',
  '08001',
  '08003',
]);
/** gRPC status codes of the Temporal client that mean "try again later". */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
/** The API cancels its own Temporal calls only when the caller's deadline passes (or the caller
 * went away): the Temporal client then reports CANCELLED ("Cancelled on client"). */
const GRPC_CANCELLED = 1;
const GRPC_RESOURCE_EXHAUSTED = 8;
/** The retry hint when a bound behind admission control refused: the engine's own (its
 * per-workflow in-flight update limit, its poller limit: admission should shed before those, so
 * that is a bound that slipped) or the API's database pool's waiting bound. The caller waits as
 * long as an admission refusal asks by default (API_RETRY_AFTER_MS, 200). */
const BOUND_REFUSAL_RETRY_AFTER_MS = 200;

function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_ERRNOS.has(code)) return true;
    if (code === GRPC_UNAVAILABLE) return true;
    if (
      e instanceof Error &&
      /Connection terminated|connect ECONNREFUSED|Failed to connect|Timeout exceeded when trying to connect|Workflow Task in failed state|consistent query buffer is full|no poller seen for task queue/i.test(
        e.message,
      )
    )
      return true;
  }
  return false;
}

/** Whether the error or one of its causes carries this gRPC status code (Temporal's "context
 * deadline exceeded" on an update arrives wrapped). */
function hasCode(err: unknown, code: number): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

/** Answers that say the engine (or its database) did not keep up, not that the request was wrong:
 * admission control (src/api/admission.ts) counts them as slow answers. */
const ENGINE_FAILURE_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  Code.Internal,
  Code.Unknown,
  Code.Canceled,
]);

const silent = pino({ level: 'silent' });

/** Whether a failed call failed because the engine did not keep up (as its answer would say). */
export function isEngineFailure(err: unknown): boolean {
  return ENGINE_FAILURE_CODES.has(toConnectError(err, silent, '').code);
}

export function toConnectError(err: unknown, log: Logger, method: string): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof InvalidPaymentError || err instanceof CardInputError || err instanceof LedgerInputError) {
    return invalidArgument(err.message);
  }
  if (err instanceof CardEventRefusedError) return new ConnectError(err.message, Code.FailedPrecondition);
  if (err instanceof InvalidDisputeError) return invalidArgument(err.message);
  if (err instanceof DisputeRefusedError) return new ConnectError(err.message, Code.FailedPrecondition);
  if (err instanceof DisputeKeyConflictError) return new ConnectError(err.message, Code.AlreadyExists);
  // Another amount or card under a transaction id the platform already has: never the first
  // decision, as if it covered the new request.
  if (err instanceof AuthorizationConflictError) return new ConnectError(err.message, Code.AlreadyExists);
  // A ledger step that failed: the payment is flagged; the same message delivered again books it.
  if (err instanceof CardStepFailedError) return new ConnectError(`${err.message}; retry with the same ids`, Code.Unavailable);
  if (err instanceof WorkflowNotFoundError) return notFound('payment');
  // Nothing reached the database; shed at once rather than queue past the caller's deadline.
  if (err instanceof DatabaseBusyError) return resourceExhausted('every database connection is busy', BOUND_REFUSAL_RETRY_AFTER_MS);
  if (isUnavailable(err)) {
    log.warn({ method, err: (err as Error).message }, 'dependency unavailable');
    return new ConnectError('a dependency is unavailable; retry with the same ids', Code.Unavailable);
  }
  if (hasCode(err, GRPC_RESOURCE_EXHAUSTED)) {
    // Nothing the engine refused was done; every call is idempotent by its ids, so a retry is safe.
    log.warn({ method, err: (err as Error).message }, 'the engine refused the call (resource exhausted)');
    return resourceExhausted('the workflow engine refused the call', BOUND_REFUSAL_RETRY_AFTER_MS);
  }
  if (hasCode(err, GRPC_DEADLINE_EXCEEDED) || hasCode(err, GRPC_CANCELLED) || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return new ConnectError('the deadline passed before the platform answered', Code.DeadlineExceeded);
  }
  log.error({ method, err }, 'internal error');
  return new ConnectError('internal error', Code.Internal);
}
