// `billing ...`: cardplatform.billing.v1.BillingService.
import { Command } from 'commander';
import {
  GetStatementResponseSchema,
  ListStatementsResponseSchema,
  RecordRepaymentResponseSchema,
  StartBillingResponseSchema,
  StatementStatus,
  type Statement,
} from '../gen/cardplatform/billing/v1/billing_pb.js';
import { currency, integerIn, minorUnits } from './args.js';
import { apiContext } from './context.js';
import { record, table } from './output.js';

const statusName = (s: StatementStatus) => StatementStatus[s] ?? String(s);

function renderStatement(s: Statement | undefined): string {
  if (!s) return '';
  const head = record({
    statement: s.statementId,
    window: `${s.windowStart} .. ${s.windowEnd}`,
    status: statusName(s.status),
    opening_balance_minor: s.openingBalanceMinor,
    card_charges_minor: s.cardChargesMinor,
    refunds_minor: s.refundsMinor,
    payouts_minor: s.payoutsMinor,
    fees_minor: s.feesMinor,
    repayments_minor: s.repaymentsMinor,
    returned_repayments_minor: s.returnedRepaymentsMinor,
    closing_balance_minor: s.closingBalanceMinor,
    minimum_due_minor: s.minimumDueMinor,
    due_at: s.dueAt,
    paid_minor: s.paidMinor,
  });
  const events = table(
    s.events.map((e) => ({ at: e.at, event: e.type, status: statusName(e.status), paid_minor: e.paidMinor, detail: e.detail })),
    ['at', 'event', 'status', 'paid_minor', 'detail'],
  );
  return `${head}\n\n${events}`;
}

export function billingCommand(): Command {
  const billing = new Command('billing').description("a company's billing cycle, statements and repayments (BillingService)");

  billing
    .command('start')
    .description("start a company's billing in a currency (repeating it is harmless; a running billing keeps its policy)")
    .requiredOption('--company <company-id>', 'the company (it needs a credit line in the currency)')
    .option('--currency <code>', 'ISO 4217 currency', currency, 'USD')
    .option('--closing-day <day>', 'monthly cycles closing at 00:00 UTC on this day (1..28; the default cycle: the 1st)', integerIn(1, 28))
    .option('--cycle-ms <ms>', 'fixed cycles of this length instead (demo and tests)', integerIn(1_000, 31_622_400_000))
    .option('--due-after-ms <ms>', 'the due date, this long after the close (default 21 days)', integerIn(0, 7_776_000_000))
    .option('--grace-ms <ms>', 'past due this long after the due date (default 3 days)', integerIn(0, 7_776_000_000))
    .option('--late-fee-minor <n>', 'late fee charged once per past-due statement (default 2500; 0: none)', minorUnitsOrZero)
    .option('--minimum-due-percent <p>', 'minimum due, a share of the closing balance (default 100)', integerIn(1, 100))
    .option('--debtor-name <name>', 'direct debit: the account holder')
    .option('--debit-account <iban>', 'direct debit: the account the due amount is collected from on the due date')
    .action(
      async (
        o: {
          company: string;
          currency: string;
          closingDay?: number;
          cycleMs?: number;
          dueAfterMs?: number;
          graceMs?: number;
          lateFeeMinor?: bigint;
          minimumDuePercent?: number;
          debtorName?: string;
          debitAccount?: string;
        },
        cmd: Command,
      ) => {
        const { clients, out } = await apiContext(cmd);
        const res = await clients.billing.startBilling({
          companyId: o.company,
          currency: o.currency,
          policy: {
            ...(o.cycleMs !== undefined
              ? { cycle: { kind: { case: 'fixedLengthMs', value: BigInt(o.cycleMs) } } }
              : o.closingDay !== undefined
                ? { cycle: { kind: { case: 'monthlyClosingDay', value: o.closingDay } } }
                : {}),
            ...(o.dueAfterMs !== undefined ? { dueAfterMs: BigInt(o.dueAfterMs) } : {}),
            ...(o.graceMs !== undefined ? { graceMs: BigInt(o.graceMs) } : {}),
            ...(o.lateFeeMinor !== undefined ? { lateFeeMinor: o.lateFeeMinor } : {}),
            ...(o.minimumDuePercent !== undefined ? { minimumDuePercent: o.minimumDuePercent } : {}),
            ...(o.debitAccount !== undefined
              ? { directDebit: { debtorName: o.debtorName ?? o.company, bankAccount: o.debitAccount } }
              : {}),
          },
        });
        out.message(StartBillingResponseSchema, res, () => record({ workflow: res.workflowId, started: res.started }));
      },
    );

  billing
    .command('statements')
    .description("a company's statements, newest first")
    .requiredOption('--company <company-id>', 'the company')
    .option('--currency <code>', 'only this currency', currency)
    .option('--page-size <n>', 'statements per page (1..100)', integerIn(1, 100), 20)
    .option('--before-cycle <n>', 'statements of cycles before this one (the next page)', integerIn(1, 999_999_999))
    .action(async (o: { company: string; currency?: string; pageSize: number; beforeCycle?: number }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.billing.listStatements({
        companyId: o.company,
        currency: o.currency ?? '',
        pageSize: o.pageSize,
        beforeCycle: o.beforeCycle ?? 0,
      });
      out.message(ListStatementsResponseSchema, res, () =>
        table(
          res.statements.map((s) => ({
            statement: s.statementId,
            closed: s.windowEnd,
            status: statusName(s.status),
            closing_balance_minor: s.closingBalanceMinor,
            minimum_due_minor: s.minimumDueMinor,
            paid_minor: s.paidMinor,
            due_at: s.dueAt,
          })),
          ['statement', 'closed', 'status', 'closing_balance_minor', 'minimum_due_minor', 'paid_minor', 'due_at'],
        ),
      );
    });

  billing
    .command('statement')
    .description('one statement: its figures from the ledger and what happened to it')
    .argument('<statement-id>', '<company id>/<currency>/<cycle number>, e.g. acme/USD/3')
    .action(async (statement_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.billing.getStatement({ statementId: statement_id });
      out.message(GetStatementResponseSchema, res, () => renderStatement(res.statement));
    });

  billing
    .command('repay')
    .description('record a repayment by bank transfer (the idempotency key records it once; an overpayment leaves credit)')
    .requiredOption('--company <company-id>', 'the company')
    .option('--currency <code>', 'ISO 4217 currency', currency, 'USD')
    .requiredOption('--idempotency-key <key>', "the transfer's reference: the same key is the same repayment")
    .requiredOption('--amount-minor <n>', 'amount in minor units (integer)', minorUnits)
    .action(async (o: { company: string; currency: string; idempotencyKey: string; amountMinor: bigint }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.billing.recordRepayment({
        companyId: o.company,
        currency: o.currency,
        idempotencyKey: o.idempotencyKey,
        amountMinor: o.amountMinor,
      });
      out.message(RecordRepaymentResponseSchema, res, () =>
        record({
          idempotency_key: res.idempotencyKey,
          amount_minor: res.amountMinor,
          created: res.created,
          transfer: res.transferId,
          statement: res.statementId || '(none closed yet)',
          status: res.statementId ? statusName(res.status) : '',
          paid_minor: res.paidMinor,
        }),
      );
    });

  return billing;
}

/** A late fee may be zero (no fee): an integer of minor units, 0 or more. */
function minorUnitsOrZero(value: string): bigint {
  return value === '0' ? 0n : minorUnits(value);
}
