// cardplatform.billing.v1.BillingService: start a company's billing, read its statements, record a
// repayment by bank transfer. A company outside the caller's scope is NOT_FOUND, as everywhere.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Client } from '@temporalio/client';
import { BillingService, StatementStatus as StatementStatusProto } from '../../gen/cardplatform/billing/v1/billing_pb.js';
import { BillingNotStartedError, InvalidBillingError, RepaymentConflictError, recordRepayment, startBilling } from '../billing.js';
import { billingPolicySchema, statementIdSchema, type StatementStatus, type StatementView } from '../../domain/billing.js';
import { currencySchema } from '../../domain/money.js';
import { paymentIdSchema } from '../../domain/payment.js';
import { describeIssue } from '../../domain/validation.js';
import type { Ledger } from '../../ledger/ledger.js';
import { creditLineAccountId } from '../../ledger/ids.js';
import { STATEMENT_PAGE_SIZE_MAX, type StatementStore } from '../../ledger/statements.js';
import { scopeOf } from './auth.js';
import { given, minor, optionalMinor } from './convert.js';
import { invalidArgument, notFound } from './errors.js';

const STATEMENT_PAGE_SIZE_DEFAULT = 20;

const STATUS_TO_PROTO: Record<StatementStatus, StatementStatusProto> = {
  OPEN: StatementStatusProto.OPEN,
  PAID: StatementStatusProto.PAID,
  MINIMUM_PAID: StatementStatusProto.MINIMUM_PAID,
  PAST_DUE: StatementStatusProto.PAST_DUE,
  CARRIED_OVER: StatementStatusProto.CARRIED_OVER,
};

export function statementToProto(s: StatementView) {
  return {
    statementId: s.statement_id,
    companyId: s.company_id,
    currency: s.currency,
    cycleNumber: s.cycle_number,
    windowStart: s.window_start,
    windowEnd: s.window_end,
    openingBalanceMinor: BigInt(s.opening_balance_minor),
    cardChargesMinor: BigInt(s.card_charges_minor),
    refundsMinor: BigInt(s.refunds_minor),
    payoutsMinor: BigInt(s.payouts_minor),
    feesMinor: BigInt(s.fees_minor),
    repaymentsMinor: BigInt(s.repayments_minor),
    returnedRepaymentsMinor: BigInt(s.returned_repayments_minor),
    otherMinor: BigInt(s.other_minor),
    closingBalanceMinor: BigInt(s.closing_balance_minor),
    minimumDueMinor: BigInt(s.minimum_due_minor),
    dueAt: s.due_at,
    status: STATUS_TO_PROTO[s.status],
    paidMinor: BigInt(s.paid_minor),
    events: s.events.map((e) => ({
      type: e.type,
      status: STATUS_TO_PROTO[e.status],
      paidMinor: BigInt(e.paid_minor),
      detail: e.detail,
      at: e.at,
    })),
  };
}

export function createBillingService(deps: {
  client: Client;
  ledger: Ledger;
  statements: StatementStore;
  task_queue: string;
}): ServiceImpl<typeof BillingService> {
  const { client, ledger, statements, task_queue } = deps;
  /** The company (in the caller's scope) and currency of a request; NOT_FOUND outside the scope. */
  const companyOf = (ctx: HandlerContext, company_id: string, currency: string | undefined) => {
    const company = paymentIdSchema.safeParse(company_id);
    if (!company.success) throw invalidArgument(describeIssue(company.error, 'company_id'));
    const cur = currency === undefined ? undefined : currencySchema.safeParse(currency);
    if (cur && !cur.success) throw invalidArgument(describeIssue(cur.error, 'currency'));
    if (!scopeOf(ctx.values).company_ids.has(company.data)) throw notFound('company');
    return { company_id: company.data, currency: cur?.data };
  };
  const asConnect = (err: unknown): never => {
    if (err instanceof InvalidBillingError) throw invalidArgument(err.message);
    if (err instanceof BillingNotStartedError) throw new ConnectError(`${err.message}: StartBilling first`, Code.FailedPrecondition);
    if (err instanceof RepaymentConflictError) throw new ConnectError(err.message, Code.AlreadyExists);
    throw err;
  };

  return {
    async startBilling(req, ctx) {
      const { company_id, currency } = companyOf(ctx, req.companyId, given(req.currency) ?? '');
      const p = req.policy;
      const cycle =
        p?.cycle?.kind.case === 'monthlyClosingDay'
          ? { kind: 'monthly', closing_day: p.cycle.kind.value }
          : p?.cycle?.kind.case === 'fixedLengthMs'
            ? { kind: 'fixed', length_ms: minor(p.cycle.kind.value) }
            : undefined;
      const policy = billingPolicySchema.safeParse({
        ...(cycle ? { cycle } : {}),
        ...(p?.dueAfterMs !== undefined ? { due_after_ms: optionalMinor(p.dueAfterMs) } : {}),
        ...(p?.graceMs !== undefined ? { grace_ms: optionalMinor(p.graceMs) } : {}),
        ...(p?.lateFeeMinor !== undefined ? { late_fee_minor: optionalMinor(p.lateFeeMinor) } : {}),
        ...(p?.minimumDuePercent !== undefined ? { minimum_due_percent: p.minimumDuePercent } : {}),
        ...(p?.minimumDueFloorMinor !== undefined ? { minimum_due_floor_minor: optionalMinor(p.minimumDueFloorMinor) } : {}),
        ...(p?.cutoffLagMs !== undefined ? { cutoff_lag_ms: optionalMinor(p.cutoffLagMs) } : {}),
        ...(p?.directDebit ? { direct_debit: { debtor_name: p.directDebit.debtorName, bank_account: p.directDebit.bankAccount } } : {}),
      });
      if (!policy.success) throw invalidArgument(describeIssue(policy.error, 'policy.'));
      if ((await ledger.getCreditLineOwner(creditLineAccountId(company_id, currency!))) !== company_id) {
        throw new ConnectError(`company ${company_id} has no ${currency} credit line: create one first`, Code.FailedPrecondition);
      }
      try {
        const started = await startBilling(
          client,
          { company_id, currency: currency!, policy: policy.data, billing_start: new Date().toISOString() },
          task_queue,
        );
        return { started: started.started, workflowId: started.workflow_id };
      } catch (err) {
        return asConnect(err);
      }
    },

    async listStatements(req, ctx) {
      const { company_id, currency } = companyOf(ctx, req.companyId, given(req.currency));
      if (!(req.pageSize >= 0 && req.pageSize <= STATEMENT_PAGE_SIZE_MAX))
        throw invalidArgument(`page_size: must be 0..${STATEMENT_PAGE_SIZE_MAX}`);
      if (req.beforeCycle < 0) throw invalidArgument('before_cycle: must be >= 0');
      const list = await statements.list(
        { company_id, currency },
        { limit: req.pageSize || STATEMENT_PAGE_SIZE_DEFAULT, before_cycle: req.beforeCycle || undefined },
      );
      return { statements: list.map(statementToProto) };
    },

    async getStatement(req, ctx) {
      const key = statementIdSchema.safeParse(req.statementId);
      if (!key.success) throw invalidArgument(describeIssue(key.error, 'statement_id'));
      if (!scopeOf(ctx.values).company_ids.has(key.data.company_id)) throw notFound('statement');
      const statement = await statements.get(key.data);
      if (!statement) throw notFound('statement');
      return { statement: statementToProto(statement) };
    },

    async recordRepayment(req, ctx) {
      const { company_id, currency } = companyOf(ctx, req.companyId, given(req.currency) ?? '');
      try {
        const receipt = await recordRepayment(client, company_id, currency!, {
          idempotency_key: req.idempotencyKey,
          amount_minor: minor(req.amountMinor),
        });
        return {
          idempotencyKey: receipt.idempotency_key,
          amountMinor: BigInt(receipt.amount_minor),
          created: receipt.created,
          transferId: receipt.transfer_id,
          statementId: receipt.statement?.statement_id ?? '',
          status: receipt.statement ? STATUS_TO_PROTO[receipt.statement.status] : StatementStatusProto.UNSPECIFIED,
          paidMinor: BigInt(receipt.statement?.paid_minor ?? 0),
        };
      } catch (err) {
        return asConnect(err);
      }
    },
  };
}
