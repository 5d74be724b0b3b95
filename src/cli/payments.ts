// `payments ...`: cardplatform.payments.v1.PaymentService.
import { create } from '@bufbuild/protobuf';
import { Command, Option } from 'commander';
import {
  AuthorizeResponseSchema,
  CardTransactionSchema,
  ClearResponseSchema,
  GetPaymentResponseSchema,
  IncrementResponseSchema,
  ListPaymentsResponseSchema,
  PayoutResponseSchema,
  RefundResponseSchema,
  ReverseResponseSchema,
  StandIn,
} from '../gen/cardplatform/payments/v1/payments_pb.js';
import { isTerminal, type PaymentStatus } from '../domain/payment.js';
import { currency, integerIn, mcc, minorUnits } from './args.js';
import { apiContext } from './context.js';
import { CliError, EXIT } from './errors.js';
import { renderDecision, renderPayment, renderPaymentList } from './render.js';

interface TransactionOptions {
  card: string;
  currency: string;
  mcc: string;
  merchant: string;
}

/** The options naming a card transaction (the network's transaction id is the argument). */
function withTransaction(cmd: Command): Command {
  return cmd
    .requiredOption('--card <card-id>', 'the card')
    .requiredOption('--mcc <mcc>', 'merchant category code, four digits (ISO 18245)', mcc)
    .requiredOption('--merchant <name>', 'merchant name')
    .option('--currency <code>', 'ISO 4217 currency of the transaction', currency, 'USD');
}

function transaction(payment_id: string, o: TransactionOptions) {
  return create(CardTransactionSchema, {
    paymentId: payment_id,
    cardId: o.card,
    currency: o.currency,
    merchant: { mcc: o.mcc, name: o.merchant },
  });
}

const WAIT_POLL_MS_MAX = 1_000;

export function paymentsCommand(): Command {
  const payments = new Command('payments').description('card network messages, payouts and payments (PaymentService)');

  withTransaction(
    payments
      .command('authorize')
      .description('ask for an authorization decision (places a hold when approved)')
      .argument('<payment-id>', "the network's transaction id: one payment")
      .requiredOption('--amount-minor <n>', 'amount in minor units (integer, e.g. 1250 = 12.50 USD)', minorUnits),
  )
    .addOption(
      new Option('--stand-in <answer>', 'what the network answers if the decision is late')
        .choices(['decline', 'approve'])
        .default('decline'),
    )
    .option('--deadline-ms <ms>', "the network's decision deadline (the call's timeout)", integerIn(1, 60_000), 2_000)
    .action(
      async (payment_id: string, o: TransactionOptions & { amountMinor: bigint; standIn: string; deadlineMs: number }, cmd: Command) => {
        const { clients, out } = await apiContext(cmd);
        const res = await clients.payments.authorize(
          {
            transaction: transaction(payment_id, o),
            amountMinor: o.amountMinor,
            standIn: o.standIn === 'approve' ? StandIn.APPROVE : StandIn.DECLINE,
          },
          { timeoutMs: o.deadlineMs },
        );
        out.message(AuthorizeResponseSchema, res, () => renderDecision(res.decision));
      },
    );

  payments
    .command('increment')
    .description('incremental authorization: raise the hold of an approved payment to a new total')
    .argument('<payment-id>', 'the payment')
    .requiredOption('--event-id <id>', "the network's message id (a repeat has the first one's effect)")
    .requiredOption('--amount-minor <n>', 'the increment in minor units (integer)', minorUnits)
    .action(async (payment_id: string, o: { eventId: string; amountMinor: bigint }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.payments.increment({ paymentId: payment_id, eventId: o.eventId, amountMinor: o.amountMinor });
      out.message(IncrementResponseSchema, res, () => renderDecision(res.decision));
    });

  payments
    .command('reverse')
    .description('release the hold, all of it or --amount-minor of it')
    .argument('<payment-id>', 'the payment')
    .requiredOption('--event-id <id>', "the network's message id")
    .option('--amount-minor <n>', 'release only this much, in minor units (integer); default: all that is held', minorUnits)
    .action(async (payment_id: string, o: { eventId: string; amountMinor?: bigint }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.payments.reverse({
        paymentId: payment_id,
        eventId: o.eventId,
        ...(o.amountMinor !== undefined ? { amountMinor: o.amountMinor } : {}),
      });
      out.message(ReverseResponseSchema, res, () => renderPayment(res.payment));
    });

  withTransaction(
    payments
      .command('clear')
      .description('a clearing: post against the hold, or directly when nothing is held (force post)')
      .argument('<payment-id>', "the network's transaction id")
      .requiredOption('--event-id <id>', "the network's message id")
      .requiredOption('--amount-minor <n>', 'amount in minor units (integer)', minorUnits),
  )
    .option('--more-to-come', 'more clearings will follow (split shipment): keep the rest held')
    .action(
      async (payment_id: string, o: TransactionOptions & { eventId: string; amountMinor: bigint; moreToCome?: boolean }, cmd: Command) => {
        const { clients, out } = await apiContext(cmd);
        const res = await clients.payments.clear({
          transaction: transaction(payment_id, o),
          eventId: o.eventId,
          amountMinor: o.amountMinor,
          moreToCome: o.moreToCome === true,
        });
        out.message(ClearResponseSchema, res, () => renderPayment(res.payment));
      },
    );

  withTransaction(
    payments
      .command('refund')
      .description('a refund or return, credited back to the company (at most what was posted)')
      .argument('<payment-id>', "the network's transaction id")
      .requiredOption('--event-id <id>', "the network's message id")
      .requiredOption('--amount-minor <n>', 'amount in minor units (integer)', minorUnits),
  ).action(async (payment_id: string, o: TransactionOptions & { eventId: string; amountMinor: bigint }, cmd: Command) => {
    const { clients, out } = await apiContext(cmd);
    const res = await clients.payments.refund({ transaction: transaction(payment_id, o), eventId: o.eventId, amountMinor: o.amountMinor });
    out.message(RefundResponseSchema, res, () => renderPayment(res.payment));
  });

  payments
    .command('payout')
    .description("pay a supplier's bank account from a company's credit line")
    .argument('<payment-id>', 'your idempotency key: one payment id is one payout, ever')
    .requiredOption('--company <company-id>', 'the paying company')
    .requiredOption('--amount-minor <n>', 'amount in minor units (integer)', minorUnits)
    .option('--currency <code>', 'ISO 4217 currency', currency, 'USD')
    .requiredOption('--payee-name <name>', "the supplier's name")
    .requiredOption('--bank-account <account>', "the supplier's bank account (5 to 34 upper-case letters and digits)")
    .option('--wait', 'wait until the payout reaches a final state (SETTLED, DECLINED, COMPENSATED)')
    .action(
      async (
        payment_id: string,
        o: { company: string; amountMinor: bigint; currency: string; payeeName: string; bankAccount: string; wait?: boolean },
        cmd: Command,
      ) => {
        const { clients, out, timeout_ms } = await apiContext(cmd);
        const res = await clients.payments.payout({
          paymentId: payment_id,
          companyId: o.company,
          amountMinor: o.amountMinor,
          currency: o.currency,
          payee: { name: o.payeeName, bankAccount: o.bankAccount },
        });
        if (o.wait && res.payment) {
          const deadline = Date.now() + timeout_ms;
          for (let attempt = 0; !isTerminal(res.payment.status as PaymentStatus); attempt += 1) {
            if (Date.now() > deadline) {
              throw new CliError(`payout ${payment_id} is still ${res.payment.status} after --timeout-ms ${timeout_ms}`, EXIT.unavailable);
            }
            await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, WAIT_POLL_MS_MAX)));
            res.payment = (await clients.payments.getPayment({ paymentId: payment_id })).payment;
            if (!res.payment) break;
          }
        }
        out.message(
          PayoutResponseSchema,
          res,
          () =>
            `${res.started ? 'payout started' : 'payout already existed (this payment id was used before)'}\n${renderPayment(res.payment)}`,
        );
      },
    );

  payments
    .command('get')
    .description('a payment: amounts, status and timeline')
    .argument('<payment-id>', 'the payment')
    .action(async (payment_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.payments.getPayment({ paymentId: payment_id });
      out.message(GetPaymentResponseSchema, res, () => renderPayment(res.payment));
    });

  payments
    .command('list')
    .description("payments of the key's companies, newest first")
    .option('--status <status>', 'only this status, e.g. SETTLED')
    .option('--card <card-id>', 'only this card')
    .option('--company <company-id>', 'only this company')
    .option('--started-after <time>', 'RFC 3339, e.g. 2026-01-01T00:00:00Z')
    .option('--started-before <time>', 'RFC 3339')
    .option('--page-size <n>', 'payments per page (at most 500)', integerIn(1, 500), 50)
    .option('--page-token <token>', 'the next page, as printed by the previous one')
    .action(
      async (
        o: {
          status?: string;
          card?: string;
          company?: string;
          startedAfter?: string;
          startedBefore?: string;
          pageSize: number;
          pageToken?: string;
        },
        cmd: Command,
      ) => {
        const { clients, out } = await apiContext(cmd);
        const res = await clients.payments.listPayments({
          status: o.status ?? '',
          cardId: o.card ?? '',
          companyId: o.company ?? '',
          startedAfter: o.startedAfter ?? '',
          startedBefore: o.startedBefore ?? '',
          pageSize: o.pageSize,
          pageToken: o.pageToken ?? '',
        });
        out.message(ListPaymentsResponseSchema, res, () => renderPaymentList(res.payments, res.nextPageToken));
      },
    );

  return payments;
}
