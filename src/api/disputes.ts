// Disputes from the client side: open one (checks first, then the dispute workflow), read it, send
// it the network's answers or the company's withdrawal, find a payment's disputes. Used by the gRPC
// service, the tests and the history recorder; every check here is repeated by the ledger, which is
// what decides (src/activities/dispute.ts): these only keep bad requests from writing anything.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes.js';
import {
  DISPUTES_PER_PAYMENT_MAX,
  disputeId,
  disputeWorkflowId,
  openDisputeSchema,
  type DisputeStart,
  type DisputeView,
  type DisputeWorkflowOptions,
  type NetworkResponseMessage,
} from '../domain/dispute.js';
import { formatMinor, type Currency } from '../domain/money.js';
import type { PaymentState } from '../domain/payment.js';
import {
  AmountMinorKey,
  CompanyIdKey,
  CurrencyKey,
  DisputeStatusKey,
  DisputedPaymentIdKey,
  NeedsAttentionKey,
} from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import { creditLineAccountId, paymentDisputableAccountId, paymentDisputeSlotAccountId } from '../ledger/ids.js';
import type { Ledger } from '../ledger/ledger.js';
import type { disputeWorkflow } from '../workflows/dispute.js';
import { getDisputeQuery, networkResponseUpdate, refundBookedSignal, withdrawDisputeUpdate } from '../workflows/dispute-messages.js';

export const DISPUTE_WORKFLOW_TYPE = 'disputeWorkflow';
/** How long OpenDispute waits for the ledger's answer before answering OPENING. */
export const OPEN_ANSWER_WAIT_MS_MAX = 10_000;
const OPEN_POLL_MS = 50;

/** Bad input: nothing was written. */
export class InvalidDisputeError extends Error {
  override name = 'InvalidDisputeError';
}
/** A request that is well formed but cannot be done now (nothing was written). */
export class DisputeRefusedError extends Error {
  override name = 'DisputeRefusedError';
}
/** The idempotency key names a dispute with other fields. */
export class DisputeKeyConflictError extends Error {
  override name = 'DisputeKeyConflictError';
}

export function parseOpenDispute(input: unknown) {
  const parsed = openDisputeSchema.safeParse(input);
  if (!parsed.success) throw new InvalidDisputeError(describeIssue(parsed.error));
  return parsed.data;
}

/** What is still disputable on a payment by the ledger (its allowance account once a dispute was
 * opened; before that, what was posted less refunds), and whether a dispute is open. */
async function disputable(ledger: Pick<Ledger, 'getBalance'>, payment: PaymentState): Promise<{ available_minor: number; open: boolean }> {
  const [allowance, slot] = await Promise.all([
    ledger.getBalance(paymentDisputableAccountId(payment.payment_id)),
    ledger.getBalance(paymentDisputeSlotAccountId(payment.payment_id)),
  ]);
  // Refunds after the first dispute are in the allowance; a refund the allowance has not taken
  // yet (refused while a dispute held it) is counted from the payment, whichever is smaller.
  const by_payment = payment.posted_minor - payment.refunded_minor;
  return {
    available_minor: allowance ? Math.min(Number(allowance.available), by_payment) : by_payment,
    open: slot !== null && slot.available <= 0n,
  };
}

export interface OpenedDispute {
  dispute: DisputeView;
  started: boolean;
}

/** Opens a dispute of `payment` (the caller checked it may see it), or returns the one its key
 * already names. Waits (bounded) for the ledger's answer: REFUSED, or FILED and beyond. */
export async function openDispute(
  client: Client,
  ledger: Pick<Ledger, 'getBalance'>,
  payment: PaymentState,
  input: unknown,
  options: { task_queue: string; workflow: DisputeWorkflowOptions },
): Promise<OpenedDispute> {
  const request = parseOpenDispute(input);
  if (payment.payment_id !== request.payment_id) throw new Error('openDispute: payment and request disagree');
  const dispute_id = disputeId(request.payment_id, request.idempotency_key);
  const workflowId = disputeWorkflowId(dispute_id);
  const existing = await getDispute(client, dispute_id).catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  });
  if (existing) return { dispute: sameRequest(existing, request), started: false };
  if (payment.kind !== 'card' || !payment.company_id) throw new DisputeRefusedError(`payment ${payment.payment_id} is not a card payment`);
  if (payment.posted_minor === 0) throw new DisputeRefusedError(`payment ${payment.payment_id} has not been cleared: nothing to dispute`);
  const check = await disputable(ledger, payment);
  if (check.open) throw new DisputeRefusedError(`payment ${payment.payment_id} already has an open dispute`);
  if (request.amount_minor > check.available_minor) {
    throw new DisputeRefusedError(
      `amount_minor: ${request.amount_minor} exceeds what is posted and not yet refunded or disputed (${check.available_minor})`,
    );
  }
  const start: DisputeStart = {
    ...request,
    dispute_id,
    company_id: payment.company_id,
    account_id: creditLineAccountId(payment.company_id, payment.currency),
    currency: payment.currency as Currency,
  };
  let started = true;
  try {
    await client.workflow.start<typeof disputeWorkflow>(DISPUTE_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: options.task_queue,
      args: [start, options.workflow],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `Dispute of ${formatMinor(start.amount_minor, start.currency)} on ${start.payment_id} (${start.reason})`,
      typedSearchAttributes: [
        { key: DisputeStatusKey, value: 'OPENING' },
        { key: DisputedPaymentIdKey, value: start.payment_id },
        { key: CompanyIdKey, value: start.company_id },
        { key: AmountMinorKey, value: start.amount_minor },
        { key: CurrencyKey, value: start.currency },
        { key: NeedsAttentionKey, value: false },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    started = false;
  }
  const deadline_ms = Date.now() + OPEN_ANSWER_WAIT_MS_MAX;
  for (;;) {
    const view = await getDispute(client, dispute_id);
    if (!started) return { dispute: sameRequest(view, request), started };
    if (view.status !== 'OPENING' || Date.now() >= deadline_ms) return { dispute: view, started };
    await new Promise((r) => setTimeout(r, OPEN_POLL_MS));
  }
}

function sameRequest(view: DisputeView, request: { reason: string; amount_minor: number; evidence: string }): DisputeView {
  if (view.reason !== request.reason || view.amount_minor !== request.amount_minor || view.evidence !== request.evidence) {
    throw new DisputeKeyConflictError(`idempotency_key: dispute ${view.dispute_id} was opened with other fields`);
  }
  return view;
}

export async function getDispute(client: Client, dispute_id: string): Promise<DisputeView> {
  return client.workflow.getHandle(disputeWorkflowId(dispute_id)).query(getDisputeQuery);
}

/** Sends a dispute a message (an update): refused (nothing changes) when it is not at the stage the
 * message answers. */
async function send(run: () => Promise<DisputeView>): Promise<DisputeView> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new DisputeRefusedError(String((err.cause as Error | undefined)?.message ?? err.message));
    // Its workflow closed (an outcome) between the caller's read and the message.
    if (err instanceof WorkflowNotFoundError) throw new DisputeRefusedError('the dispute has its outcome: it takes no more messages');
    throw err;
  }
}

export function recordNetworkResponse(client: Client, dispute_id: string, message: NetworkResponseMessage): Promise<DisputeView> {
  return send(() => client.workflow.getHandle(disputeWorkflowId(dispute_id)).executeUpdate(networkResponseUpdate, { args: [message] }));
}

export function withdrawDispute(client: Client, dispute_id: string, reason: string): Promise<DisputeView> {
  return send(() => client.workflow.getHandle(disputeWorkflowId(dispute_id)).executeUpdate(withdrawDisputeUpdate, { args: [{ reason }] }));
}

export interface DisputeListing {
  dispute_id: string;
  payment_id: string;
  company_id: string;
  status: string;
  amount_minor: number;
  currency: string;
  needs_attention: boolean;
  opened_at: string;
}

/** One page of disputes matching `query` (Temporal visibility: eventually consistent). */
export async function listDisputes(
  client: Client,
  query: string,
  page: { page_size: number; next_page_token?: Uint8Array | undefined },
): Promise<{ disputes: DisputeListing[]; next_page_token: Uint8Array | null }> {
  const response = await client.workflowService.listWorkflowExecutions({
    namespace: client.options.namespace,
    query: `WorkflowType = '${DISPUTE_WORKFLOW_TYPE}' AND ${query}`,
    pageSize: page.page_size,
    ...(page.next_page_token ? { nextPageToken: page.next_page_token } : {}),
  });
  const disputes = (response.executions ?? []).map((e) => {
    const attrs = decodeTypedSearchAttributes(e.searchAttributes?.indexedFields);
    return {
      dispute_id: (e.execution?.workflowId ?? '').replace(/^dispute-/, ''),
      payment_id: attrs.get(DisputedPaymentIdKey) ?? '',
      company_id: attrs.get(CompanyIdKey) ?? '',
      status: attrs.get(DisputeStatusKey) ?? '',
      amount_minor: attrs.get(AmountMinorKey) ?? 0,
      currency: attrs.get(CurrencyKey) ?? '',
      needs_attention: attrs.get(NeedsAttentionKey) ?? false,
      opened_at: e.startTime?.seconds ? new Date(Number(e.startTime.seconds) * 1000).toISOString() : '',
    };
  });
  const token = response.nextPageToken && response.nextPageToken.length > 0 ? response.nextPageToken : null;
  return { disputes, next_page_token: token };
}

/** A card payment's disputes as their workflows answer (oldest first, at most
 * DISPUTES_PER_PAYMENT_MAX). The payment id passed a strict pattern: no quotes. */
export async function disputesOfPayment(client: Client, payment_id: string): Promise<DisputeView[]> {
  const { disputes } = await listDisputes(client, `${DisputedPaymentIdKey.name} = '${payment_id}'`, {
    page_size: DISPUTES_PER_PAYMENT_MAX,
  });
  const views = await Promise.all(disputes.map((d) => getDispute(client, d.dispute_id)));
  return views.sort((a, b) => (a.timeline[0]?.at_ms ?? 0) - (b.timeline[0]?.at_ms ?? 0));
}

/** Tells a payment's open disputes that a refund was booked, so they reconcile it now rather than
 * at their next message (best effort: the dispute reconciles before any outcome anyway). */
export async function notifyDisputesOfRefund(client: Client, payment_id: string): Promise<void> {
  const { disputes } = await listDisputes(client, `${DisputedPaymentIdKey.name} = '${payment_id}' AND ExecutionStatus = 'Running'`, {
    page_size: DISPUTES_PER_PAYMENT_MAX,
  });
  await Promise.all(disputes.map((d) => client.workflow.getHandle(disputeWorkflowId(d.dispute_id)).signal(refundBookedSignal)));
}
