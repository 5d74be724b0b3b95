// Starting a company's billing and talking to its billing workflow: the one place clients (API,
// demo, tests) do it, so every start gets the same id, policy validation and search attributes.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  billingInputSchema,
  billingWorkflowId,
  recordRepaymentSchema,
  type BillingInput,
  type BillingRun,
  type RecordRepayment,
  type RepaymentReceipt,
} from '../domain/billing.js';
import type { Currency } from '../domain/money.js';
import { CompanyIdKey, CurrencyKey, StatementStatusKey } from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import type { billingWorkflow } from '../workflows/billing.js';
import { getBillingQuery, recordRepaymentUpdate, type BillingView } from '../workflows/billing-messages.js';

export class InvalidBillingError extends Error {
  override name = 'InvalidBillingError';
}
/** The company has no billing running in that currency. */
export class BillingNotStartedError extends Error {
  override name = 'BillingNotStartedError';
}
/** The same repayment key was recorded before with another amount. */
export class RepaymentConflictError extends Error {
  override name = 'RepaymentConflictError';
}

export function parseBillingInput(input: unknown): BillingRun {
  const parsed = billingInputSchema.safeParse(input);
  if (!parsed.success) throw new InvalidBillingError(describeIssue(parsed.error));
  return parsed.data;
}

/** Starts the company's billing (cycle 1 from `billing_start`), or returns false when it runs
 * already (its policy is then the one it was started with). */
export async function startBilling(
  client: Client,
  input: BillingInput,
  task_queue: string,
): Promise<{ started: boolean; workflow_id: string }> {
  const run = parseBillingInput(input);
  const workflowId = billingWorkflowId(run.company_id, run.currency);
  try {
    await client.workflow.start<typeof billingWorkflow>('billingWorkflow', {
      workflowId,
      taskQueue: task_queue,
      args: [run],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `Billing of ${run.company_id} in ${run.currency}`,
      typedSearchAttributes: [
        { key: CompanyIdKey, value: run.company_id },
        { key: CurrencyKey, value: run.currency },
        { key: StatementStatusKey, value: 'CYCLE_OPEN' },
      ],
    });
    return { started: true, workflow_id: workflowId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: false, workflow_id: workflowId };
    throw err;
  }
}

export async function getBilling(client: Client, company_id: string, currency: Currency): Promise<BillingView> {
  try {
    return await client.workflow.getHandle(billingWorkflowId(company_id, currency)).query(getBillingQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new BillingNotStartedError(`no billing for ${company_id} in ${currency}`);
    throw err;
  }
}

/** Records a repayment by bank transfer on the company's running billing: once per idempotency key. */
export async function recordRepayment(
  client: Client,
  company_id: string,
  currency: Currency,
  input: RecordRepayment,
): Promise<RepaymentReceipt> {
  const parsed = recordRepaymentSchema.safeParse(input);
  if (!parsed.success) throw new InvalidBillingError(describeIssue(parsed.error));
  try {
    return await client.workflow
      .getHandle(billingWorkflowId(company_id, currency))
      .executeUpdate(recordRepaymentUpdate, { args: [parsed.data] });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new BillingNotStartedError(`no billing for ${company_id} in ${currency}`);
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause instanceof ApplicationFailure ? err.cause : (err.cause as { cause?: unknown })?.cause;
      if (cause instanceof ApplicationFailure && cause.type === 'BillingConflict') throw new RepaymentConflictError(cause.message);
      if (cause instanceof ApplicationFailure && cause.type === 'InvalidBilling') throw new InvalidBillingError(cause.message);
    }
    throw err;
  }
}
