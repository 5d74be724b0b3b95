// Ops actions on running payments, through Temporal: the one place clients (tests, the CLI) send
// retrySettlement, voidHold and resolveAttention, read a payment the way the Web UI shows it, and
// list payments by a visibility query. Each action is validated here (operator, reason) and again
// by the workflow's update validator (whether it applies now); a refusal writes nothing.
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { opsActionSchema, type OpsAction, type OpsActionName } from '../domain/ops.js';
import { paymentWorkflowId, type PaymentState } from '../domain/payment.js';
import {
  AmountMinorKey,
  CurrencyKey,
  NeedsAttentionKey,
  PaymentKindKey,
  PaymentStatusKey,
  visibleStatus,
} from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import { resolveAttentionUpdate, retrySettlementUpdate, voidHoldUpdate } from '../workflows/messages.js';
import { getPayment, PaymentNotFoundError } from './payments.js';

/** The action was refused: bad operator or reason, or it does not apply to the payment now. */
export class OpsActionRefusedError extends Error {
  override name = 'OpsActionRefusedError';
}

const UPDATES = {
  retrySettlement: retrySettlementUpdate,
  voidHold: voidHoldUpdate,
  resolveAttention: resolveAttentionUpdate,
} as const;

export interface OpsCallOptions {
  /** Idempotency key of the action (a repeated call with the same one acts once); default: new. */
  request_id?: string;
}

/** Sends one ops action to a payment and returns its state after the action. */
export async function runOpsAction(
  client: Client,
  action: OpsActionName,
  payment_id: string,
  input: OpsAction,
  options: OpsCallOptions = {},
): Promise<PaymentState> {
  const parsed = opsActionSchema.safeParse(input);
  if (!parsed.success) throw new OpsActionRefusedError(describeIssue(parsed.error, `${action} `));
  const handle = client.workflow.getHandle(paymentWorkflowId(payment_id));
  try {
    return await handle.executeUpdate(UPDATES[action], {
      args: [parsed.data],
      updateId: `ops:${action}:${options.request_id ?? randomUUID()}`,
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new OpsActionRefusedError(err.cause?.message ?? err.message);
    if (err instanceof WorkflowNotFoundError) throw new PaymentNotFoundError(`no running payment ${payment_id}`);
    throw err;
  }
}

/** A payout flagged settlement_waiting: send it to the bank again with the same idempotency key. */
export const retrySettlement = (client: Client, payment_id: string, input: OpsAction, options?: OpsCallOptions) =>
  runOpsAction(client, 'retrySettlement', payment_id, input, options);

/** A card payment: release what it still holds now. */
export const voidHold = (client: Client, payment_id: string, input: OpsAction, options?: OpsCallOptions) =>
  runOpsAction(client, 'voidHold', payment_id, input, options);

/** Any payment flagged NeedsAttention: clear the flag (the timeline keeps why it was raised). */
export const resolveAttention = (client: Client, payment_id: string, input: OpsAction, options?: OpsCallOptions) =>
  runOpsAction(client, 'resolveAttention', payment_id, input, options);

export interface PaymentView {
  state: PaymentState;
  /** The workflow's current details (markdown), as the Web UI shows them. */
  current_details: string;
  /** The summary given at start. */
  summary: string | undefined;
}

/** A payment as the Web UI shows it: its query, its current details and its summary. */
export async function readPayment(client: Client, payment_id: string): Promise<PaymentView> {
  const handle = client.workflow.getHandle(paymentWorkflowId(payment_id));
  const [state, metadata, description] = await Promise.all([
    getPayment(client, payment_id),
    handle.query(workflowMetadataQuery),
    handle.describe(),
  ]);
  return { state, current_details: metadata.currentDetails ?? '', summary: await description.staticSummary() };
}

export interface ListedPayment {
  workflow_id: string;
  status: string;
  payment_status: string | undefined;
  kind: string | undefined;
  needs_attention: boolean | undefined;
  amount_minor: number | undefined;
  currency: string | undefined;
  started_at: Date;
}

/** Payments matching a visibility query (the Web UI's syntax), newest first, at most `limit`.
 * Visibility is eventually consistent: a change shows within a second or so. */
export async function listPayments(client: Client, query: string, limit = 100): Promise<ListedPayment[]> {
  const found: ListedPayment[] = [];
  for await (const wf of client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
    const sa = wf.typedSearchAttributes;
    found.push({
      workflow_id: wf.workflowId,
      status: wf.status.name,
      payment_status: visibleStatus(sa.get(PaymentStatusKey), sa.get(PaymentKindKey), wf.status.name) ?? undefined,
      kind: sa.get(PaymentKindKey),
      needs_attention: sa.get(NeedsAttentionKey),
      amount_minor: sa.get(AmountMinorKey),
      currency: sa.get(CurrencyKey),
      started_at: wf.startTime,
    });
    if (found.length >= limit) break;
  }
  return found;
}
