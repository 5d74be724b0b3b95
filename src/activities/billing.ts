// Billing activities: close a statement, post repayments and their returns, charge late fees,
// freeze and unfreeze a company's cards, record statement events, and send direct debits. Each is
// idempotent: ledger writes use transfer ids derived from the company, the currency and the step's
// key (a repayment's idempotency key, a statement's cycle), so a retry answers `exists`.
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import {
  closeStatementRequestSchema,
  directDebitMandateSchema,
  debitIdempotencyKey,
  repaymentKeySchema,
  statementIdOf,
  type CloseStatementRequest,
  type Statement,
  type StatementKey,
} from '../domain/billing.js';
import { TransferCode, isSuccess, type TransferResult } from '../domain/ledger.js';
import { amountMinorSchema, currencySchema, type Currency } from '../domain/money.js';
import { paymentIdSchema } from '../domain/payment.js';
import { parseOrFail } from '../domain/validation.js';
import type { CardStore } from '../cards/cards.js';
import { ensurePlatformAccounts, platformAccount } from '../ledger/accounts.js';
import type { TransferBatcher } from '../ledger/batcher.js';
import { transferId, type TransferStep } from '../ledger/ids.js';
import type { Ledger, TransferInput, TransferOutcome } from '../ledger/ledger.js';
import {
  StatementConflictError,
  StatementNotDueError,
  billedAccounts,
  ensureBillingReceivable,
  type StatementEventInput,
  type StatementStore,
} from '../ledger/statements.js';
import type { SettlementGateway } from '../settlement/gateway.js';
import { statementEvent } from '../events/statement-event.js';
import type { EventStore } from '../events/store.js';
import { SettlementCredentialsError, SettlementUnexpectedAnswerError } from '../settlement/gateway.js';

export interface BillingActivityDeps {
  ledger: Ledger;
  postings: TransferBatcher;
  cards: CardStore;
  statements: StatementStore;
  gateway: SettlementGateway;
  /** Where each recorded statement event is emitted (issue 16). */
  events: Pick<EventStore, 'appendEvents'>;
}

/** Failure types the billing workflow and the API tell apart. */
export const BILLING_FAILURES = {
  invalid: 'InvalidBilling',
  /** The same repayment key with another amount, or a statement contradicting the stored ones. */
  conflict: 'BillingConflict',
  notDue: 'StatementNotDue',
  /** The bank refused our credentials or answered unreadably: retried by the workflow, flagged. */
  bankAnswer: 'DirectDebitBankAnswer',
} as const;

const companySchema = z.strictObject({ company_id: paymentIdSchema, currency: currencySchema });
const repaymentSchema = companySchema.extend({
  /** `transfer:<idempotency key>` (RecordRepayment) or `debit:<cycle>` (a collected direct debit). */
  key: z.string().regex(/^(transfer:[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}|debit:[1-9][0-9]{0,8})$/),
  amount_minor: amountMinorSchema,
});
const feeSchema = companySchema.extend({ cycle_number: z.number().int().min(1), amount_minor: amountMinorSchema });
const debitSchema = companySchema.extend({
  cycle_number: z.number().int().min(1),
  amount_minor: amountMinorSchema,
  mandate: directDebitMandateSchema,
});

/** The reference billing transfers of a company and currency are derived under. */
const billingRef = (company_id: string, currency: Currency) => `billing:${company_id}:${currency}`;
/** Billing transfers carry `billing:<company>:<currency>` as payment id when it fits one. */
function paymentIdOf(company_id: string, currency: Currency): string | undefined {
  const id = billingRef(company_id, currency);
  return paymentIdSchema.safeParse(id).success ? id : undefined;
}

export const repaymentKeyOf = {
  transfer: (idempotency_key: string) => `transfer:${parseOrFail(repaymentKeySchema, idempotency_key, 'repayment idempotency_key')}`,
  debit: (cycle_number: number) => `debit:${cycle_number}`,
};

export const billingTransferIds = (company_id: string, currency: Currency) => {
  const ref = billingRef(company_id, currency);
  const id = (step: TransferStep, key: string) => transferId(ref, step, key);
  return {
    repayment: (key: string) => id('billing_repayment', key),
    /** A charge tried on the credit line first; the `:receivable` one when the line refused it. */
    charge: (step: 'billing_repayment_return' | 'billing_late_fee', key: string, on: 'line' | 'receivable') =>
      id(step, on === 'line' ? key : `${key}:receivable`),
  };
};

async function submitOne(postings: TransferBatcher, transfer: TransferInput): Promise<TransferOutcome> {
  const [outcome] = await postings.submit([transfer]);
  if (!outcome) throw new Error(`ledger returned no result for transfer ${transfer.id}`);
  return outcome;
}

const refusal = (o: TransferOutcome): string | undefined => (o.result === 'id_already_failed' ? o.first_result : o.result);
/** Refusals of the credit line that send a charge to the company's billing receivable instead. */
const LINE_REFUSALS: ReadonlySet<string> = new Set<TransferResult>(['exceeds_credits', 'account_closed']);

function unexpected(step: string, outcome: TransferOutcome): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${step}: ledger answered ${outcome.result} for transfer ${outcome.id}`, 'LedgerUnexpectedResult');
}

export function createBillingActivities({ ledger, postings, cards, statements, gateway, events }: BillingActivityDeps) {
  /** Charges the company: on its credit line when the line takes it, else on its billing
   * receivable (always). Deterministic: a retry finds the line refused again (id_already_failed)
   * and the receivable transfer `exists`. */
  async function chargeCompany(
    step: 'billing_repayment_return' | 'billing_late_fee',
    request: { company_id: string; currency: Currency; amount_minor: number },
    key: string,
    credit_account_id: string,
  ): Promise<{ on: 'line' | 'receivable'; transfer_id: string }> {
    const ids = billingTransferIds(request.company_id, request.currency);
    const accounts = billedAccounts(request.company_id, request.currency);
    const code = step === 'billing_late_fee' ? TransferCode.billing_late_fee : TransferCode.billing_repayment_return;
    const payment_id = paymentIdOf(request.company_id, request.currency);
    const transfer = (on: 'line' | 'receivable'): TransferInput => ({
      id: ids.charge(step, key, on),
      debit_account_id: on === 'line' ? accounts.credit_line : accounts.receivable,
      credit_account_id,
      amount_minor: request.amount_minor,
      currency: request.currency,
      code,
      ...(payment_id ? { payment_id } : {}),
    });
    const line = await submitOne(postings, transfer('line'));
    if (isSuccess(line.result)) return { on: 'line', transfer_id: line.id };
    if (!LINE_REFUSALS.has(refusal(line) ?? '')) throw unexpected(step, line);
    await ensureBillingReceivable(ledger, request.company_id, request.currency);
    const receivable = await submitOne(postings, transfer('receivable'));
    if (isSuccess(receivable.result)) return { on: 'receivable', transfer_id: receivable.id };
    throw unexpected(step, receivable);
  }

  return {
    /** The company's billing receivable and the platform accounts billing posts to. */
    async ensureBillingAccounts(input: { company_id: string; currency: Currency }): Promise<void> {
      const request = parseOrFail(companySchema, input, 'billing');
      await ensurePlatformAccounts(ledger, request.currency);
      await ensureBillingReceivable(ledger, request.company_id, request.currency);
    },

    /** Closes the cycle into its statement (retried until its cut-off has passed). */
    async closeStatement(input: CloseStatementRequest): Promise<Statement> {
      const request = parseOrFail(closeStatementRequestSchema, input, 'statement');
      try {
        return await statements.close(request);
      } catch (err) {
        if (err instanceof StatementNotDueError)
          throw ApplicationFailure.retryable(`closeStatement: ${err.message}`, BILLING_FAILURES.notDue);
        if (err instanceof StatementConflictError)
          throw ApplicationFailure.nonRetryable(`closeStatement: ${err.message}`, BILLING_FAILURES.conflict);
        throw err;
      }
    },

    /** Repaid since `since` (repayments less returned ones), from the ledger. */
    async billingRepaidSince(input: { company_id: string; currency: Currency; since: string }): Promise<number> {
      const request = parseOrFail(companySchema.extend({ since: z.iso.datetime() }), input, 'billing');
      return statements.repaidSince(request.company_id, request.currency, request.since);
    },

    /** Posts a repayment: settlement bank -> the company's credit line (restores it; an
     * overpayment leaves credit). Once per key; the same key with another amount is refused. */
    async postRepayment(input: {
      company_id: string;
      currency: Currency;
      key: string;
      amount_minor: number;
    }): Promise<{ created: boolean; transfer_id: string }> {
      const request = parseOrFail(repaymentSchema, input, 'repayment');
      await ensurePlatformAccounts(ledger, request.currency);
      const accounts = billedAccounts(request.company_id, request.currency);
      const payment_id = paymentIdOf(request.company_id, request.currency);
      const outcome = await submitOne(postings, {
        id: billingTransferIds(request.company_id, request.currency).repayment(request.key),
        debit_account_id: platformAccount('settlement_bank', request.currency),
        credit_account_id: accounts.credit_line,
        amount_minor: request.amount_minor,
        currency: request.currency,
        code: TransferCode.billing_repayment,
        ...(payment_id ? { payment_id } : {}),
      });
      if (isSuccess(outcome.result)) return { created: outcome.result === 'created', transfer_id: outcome.id };
      if (outcome.result.startsWith('exists_with_different_')) {
        throw ApplicationFailure.nonRetryable(
          `repayment ${request.key} was recorded before with other figures (${outcome.result})`,
          BILLING_FAILURES.conflict,
        );
      }
      if (refusal(outcome) === 'credit_account_not_found') {
        throw ApplicationFailure.nonRetryable(`${request.company_id} has no credit line in ${request.currency}`, BILLING_FAILURES.invalid);
      }
      throw unexpected('postRepayment', outcome);
    },

    /** A returned direct debit: the repayment's restore is reversed (company -> settlement bank). */
    async reverseRepayment(input: { company_id: string; currency: Currency; key: string; amount_minor: number }) {
      const request = parseOrFail(repaymentSchema, input, 'repayment return');
      return chargeCompany('billing_repayment_return', request, request.key, platformAccount('settlement_bank', request.currency));
    },

    /** Dunning's late fee of one statement (once per cycle). */
    async chargeLateFee(input: { company_id: string; currency: Currency; cycle_number: number; amount_minor: number }) {
      const request = parseOrFail(feeSchema, input, 'late fee');
      await ensurePlatformAccounts(ledger, request.currency);
      return chargeCompany(
        'billing_late_fee',
        request,
        `cycle:${request.cycle_number}`,
        platformAccount('billing_fee_income', request.currency),
      );
    },

    async freezeCompanyCards(input: { company_id: string; currency: Currency }): Promise<{ frozen: number }> {
      const request = parseOrFail(companySchema, input, 'billing');
      return { frozen: await cards.freezeForBilling(request.company_id, request.currency) };
    },

    async unfreezeCompanyCards(input: { company_id: string; currency: Currency }): Promise<{ unfrozen: number }> {
      const request = parseOrFail(companySchema, input, 'billing');
      return { unfrozen: await cards.unfreezeForBilling(request.company_id, request.currency) };
    },

    /** Records a statement event, then emits it with the statement as GetStatement shows it
     * then. The event id comes from the statement and the event's key: a retry (even one whose
     * record found the row written: `recorded` false) emits the same id, written once. */
    async recordStatementEvent(input: StatementEventInput): Promise<{ recorded: boolean }> {
      const recorded = await statements.recordEvent(input);
      const statement = await statements.get(input);
      if (!statement) {
        throw ApplicationFailure.nonRetryable(
          `recordStatementEvent: statement ${statementIdOf(input.company_id, input.currency, input.cycle_number)} is not closed`,
          BILLING_FAILURES.invalid,
        );
      }
      await events.appendEvents([statementEvent(input.type, input.event_key, statement)]);
      return { recorded };
    },

    /** Sends the direct debit of a statement (idempotency key `debit:<statement id>`): the bank
     * collects once per key. Transient failures are retried here (same key). */
    async sendDirectDebit(input: StatementKey & { amount_minor: number; mandate: { debtor_name: string; bank_account: string } }) {
      const request = parseOrFail(debitSchema, input, 'direct debit');
      try {
        const answer = await gateway.sendDirectDebit({
          idempotency_key: debitIdempotencyKey(request),
          amount_minor: request.amount_minor,
          currency: request.currency,
          debtor: { name: request.mandate.debtor_name, bank_account: request.mandate.bank_account },
        });
        if (answer.status === 'accepted') return { status: 'accepted' as const };
        if (answer.status === 'settled') return { status: 'collected' as const, bank_reference: answer.bank_reference };
        return { status: 'failed' as const, reason: answer.reason };
      } catch (err) {
        if (err instanceof SettlementCredentialsError || err instanceof SettlementUnexpectedAnswerError) {
          throw ApplicationFailure.nonRetryable(err.message, BILLING_FAILURES.bankAnswer);
        }
        throw err;
      }
    },
  };
}
