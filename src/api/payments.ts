// Starting and reading payments through Temporal: the one place clients (demo, tests, and the
// gRPC API to come) start a payment workflow, so every start gets the same id, policies and
// search attributes.
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { formatMinor } from '../domain/money.js';
import { describeIssue } from '../domain/validation.js';
import {
  DEFAULT_PAYOUT_OPTIONS,
  payoutRequestSchema,
  paymentWorkflowId,
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

export async function getPayment(client: Client, payment_id: string) {
  return client.workflow.getHandle(paymentWorkflowId(payment_id)).query(getPaymentQuery);
}
