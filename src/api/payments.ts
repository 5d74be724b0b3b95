// Starting and reading payments through Temporal: the one place clients (demo, tests, and the
// gRPC API to come) start a payment workflow, so every start gets the same id, policies and
// search attributes.
import {
  QueryRejectedError,
  WorkflowClient,
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import proto from '@temporalio/proto';
import { formatMinor } from '../domain/money.js';
import { describeIssue } from '../domain/validation.js';
import {
  DEFAULT_PAYOUT_OPTIONS,
  payoutRequestSchema,
  paymentWorkflowId,
  type PaymentState,
  type PayoutRequest,
  type PayoutWorkflowOptions,
} from '../domain/payment.js';
import {
  AmountMinorKey,
  CompanyIdKey,
  CurrencyKey,
  NeedsAttentionKey,
  PaymentKindKey,
  PaymentStatusKey,
} from '../domain/search-attributes.js';
import type { payoutWorkflow } from '../workflows/payout.js';
import { getPaymentQuery } from '../workflows/messages.js';

export class InvalidPaymentError extends Error {
  override name = 'InvalidPaymentError';
}

/** No such payment, or not one the caller may see. */
export class PaymentNotFoundError extends Error {
  override name = 'PaymentNotFoundError';
}

export interface StartedPayment {
  handle: WorkflowHandle<typeof payoutWorkflow>;
  /** false when the payment id was already used: the handle is the first payment's. */
  started: boolean;
}

/** Parses a payout request at the edge: a malformed one is an InvalidPaymentError naming the field. */
export function parsePayout(input: unknown): PayoutRequest {
  const parsed = payoutRequestSchema.safeParse(input);
  if (!parsed.success) throw new InvalidPaymentError(describeIssue(parsed.error));
  return parsed.data;
}

/** Starts a payout, or returns the existing one with the same payment id (running or finished):
 * a payment id names one payment forever. */
export async function startPayout(
  client: Client,
  input: PayoutRequest,
  task_queue: string,
  options: PayoutWorkflowOptions = DEFAULT_PAYOUT_OPTIONS,
): Promise<StartedPayment> {
  const request = parsePayout(input);
  const workflowId = paymentWorkflowId(request.payment_id);
  try {
    const handle = await client.workflow.start<typeof payoutWorkflow>('payoutWorkflow', {
      workflowId,
      taskQueue: task_queue,
      args: [request, options],
      // A finished payment is never run again under its id; a running one is joined, not restarted.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `Payout ${formatMinor(request.amount_minor, request.currency)} from ${request.company_id}`,
      typedSearchAttributes: [
        { key: PaymentStatusKey, value: 'AUTHORIZING' },
        { key: PaymentKindKey, value: 'payout' },
        { key: CompanyIdKey, value: request.company_id },
        { key: AmountMinorKey, value: request.amount_minor },
        { key: CurrencyKey, value: request.currency },
        { key: NeedsAttentionKey, value: false },
      ],
    });
    // With USE_EXISTING the server answers with the running payment's run when there is one.
    return { handle, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { handle: client.workflow.getHandle<typeof payoutWorkflow>(workflowId), started: false };
    }
    throw err;
  }
}

/** A payment's state: a running payment answers its query; a completed one is read from its
 * close event. A query of a closed workflow is handed to a worker, which replays the whole history
 * to answer it: the chaos run's final read of 3,832 payments spent 160 s doing that, shed by
 * admission on the way (docs/reliability.md). The workflow's result is the state its query
 * answered last, and the server reads it without a worker. A payment that failed or was
 * terminated (an operator's act, never the platform's) still answers through the query. */
export async function getPayment(client: Client, payment_id: string): Promise<PaymentState> {
  const workflowId = paymentWorkflowId(payment_id);
  try {
    return await openOnly(client).getHandle(workflowId).query(getPaymentQuery);
  } catch (err) {
    if (!(err instanceof QueryRejectedError)) throw err;
    if (err.status !== proto.temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED) {
      return client.workflow.getHandle(workflowId).query(getPaymentQuery);
    }
    return client.workflow.result<typeof payoutWorkflow>(workflowId, undefined, { followRuns: false });
  }
}

/** Per client, its twin whose queries the server refuses for a closed workflow instead of handing
 * them to a worker (the rejection names the status). It shares the client's connection, so the
 * caller's deadline (Connection.withDeadline) bounds its calls too. */
const openOnlyClients = new WeakMap<Client, WorkflowClient>();
function openOnly(client: Client): WorkflowClient {
  let twin = openOnlyClients.get(client);
  if (!twin) {
    twin = new WorkflowClient({ ...client.workflow.options, queryRejectCondition: 'NOT_OPEN' });
    openOnlyClients.set(client, twin);
  }
  return twin;
}
