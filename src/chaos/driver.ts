// The load: payments sent through the gRPC API at a steady rate (open loop: one starts every
// 1/rate seconds whatever the platform's speed), each following its path's messages in order. A
// call is retried with the same ids until it is answered; an answered call is "acknowledged" and
// recorded with the effect it must have. What a payment must end as follows from its
// acknowledged answers (a declined or stand-in authorization ends the path), never from what the
// platform reports afterwards.
import { ConnectError } from '@connectrpc/connect';
import { StandIn, type Payment } from '../gen/cardplatform/payments/v1/payments_pb.js';
import { TransferCode } from '../domain/ledger.js';
import { isTerminal, type PaymentStatus } from '../domain/payment.js';
import { REJECTED_ACCOUNT_PREFIX } from '../settlement/simulator.js';
import type { ChaosClients, RetryStats } from './client.js';
import { withRetries } from './client.js';
import { createPrng } from './prng.js';
import type { PaymentKind } from './schedule.js';

export const CURRENCY = 'USD';
/** The deadline an authorization is sent with: long enough to ride out most faults, still a deadline. */
const AUTHORIZATION_TIMEOUT_MS = 15_000;
const CALL_TIMEOUT_MS = 20_000;

export interface Fixtures {
  company: string;
  tiny_company: string;
  card: string;
  tiny_card: string;
  /** The small credit line every declined path overruns. */
  tiny_limit_minor: number;
}

export interface Expectation {
  status: PaymentStatus;
  posted_minor: number;
  refunded_minor: number;
  /** posted - reversed - refunded: what the company ends up charged. */
  net_charged_minor: number;
  /** The transfer codes the payment's ledger entries must be, as a multiset; alternatives allowed. */
  codes: number[][];
  /** A payout: what the bank must have paid under its key (0: nothing). */
  bank_paid_minor: number | null;
}

export interface AckedCall {
  call: string;
  attempts: number;
  at_ms: number;
}

export interface PaymentRecord {
  index: number;
  payment_id: string;
  kind: PaymentKind;
  amount_minor: number;
  acked: AckedCall[];
  expected: Expectation | null;
  /** The authorization was answered by the stand-in (late): the path ended there. */
  stand_in: boolean;
  /** A call that got an answer other than the path expects (or gave up). */
  error: string | null;
  /** The last state seen through the API. */
  state: Payment | null;
  /** Why the API could not show it (NOT_FOUND...). */
  wait_error: string | null;
  done: boolean;
  /** Sent by the overload phase or its capacity probe (src/chaos/overload.ts), not the run's plan. */
  phase?: 'probe' | 'overload';
  /** The authorization's deadline, when not AUTHORIZATION_TIMEOUT_MS (the overload's is the network's). */
  authorization_timeout_ms?: number;
}

const C = TransferCode;

export function paymentId(seed: number, index: number): string {
  return `chaos-${seed}-${String(index).padStart(6, '0')}`;
}

export class Driver {
  constructor(
    private readonly clients: ChaosClients,
    private readonly fixtures: Fixtures,
    private readonly seed: number,
    private readonly stats: RetryStats,
    private readonly give_up_at_ms: () => number,
    private readonly started_ms: number,
  ) {}

  private async call<T>(record: PaymentRecord, name: string, fn: () => Promise<T>): Promise<T> {
    const { value, attempts } = await withRetries(this.stats, this.give_up_at_ms(), fn);
    record.acked.push({ call: name, attempts, at_ms: Math.round(performance.now() - this.started_ms) });
    return value;
  }

  newRecord(index: number, kind: PaymentKind): PaymentRecord {
    const r = createPrng(this.seed).fork(`payment-${index}`);
    const amount_minor = kind === 'payout_decline' ? this.fixtures.tiny_limit_minor + r.int(1, 50_000) : r.int(2_000, 50_000);
    return {
      index,
      payment_id: paymentId(this.seed, index),
      kind,
      amount_minor,
      acked: [],
      expected: null,
      stand_in: false,
      error: null,
      state: null,
      wait_error: null,
      done: false,
    };
  }

  /** Sends the payment's messages in order; records what was acknowledged and what must follow. */
  async run(record: PaymentRecord): Promise<void> {
    try {
      if (record.kind.startsWith('payout_')) await this.payout(record);
      else await this.card(record);
    } catch (err) {
      record.error = `${record.acked.length} calls acknowledged, then: ${err instanceof ConnectError ? err.rawMessage + ` (${err.code})` : (err as Error).message}`;
    }
  }

  private async payout(record: PaymentRecord): Promise<void> {
    const { payments } = this.clients;
    const A = record.amount_minor;
    const tiny = record.kind === 'payout_decline';
    const bank_account =
      record.kind === 'payout_reject'
        ? `${REJECTED_ACCOUNT_PREFIX}${String(record.index).padStart(8, '0')}`
        : `US${100_000_000 + record.index}`;
    await this.call(record, 'payout', () =>
      payments.payout(
        {
          paymentId: record.payment_id,
          companyId: tiny ? this.fixtures.tiny_company : this.fixtures.company,
          amountMinor: BigInt(A),
          currency: CURRENCY,
          payee: { name: `Supplier ${record.index}`, bankAccount: bank_account },
        },
        { timeoutMs: CALL_TIMEOUT_MS },
      ),
    );
    record.expected =
      record.kind === 'payout_settle'
        ? {
            status: 'SETTLED',
            posted_minor: A,
            refunded_minor: 0,
            net_charged_minor: A,
            codes: [[C.payout_hold, C.payout_posting, C.payout_settlement]],
            bank_paid_minor: A,
          }
        : record.kind === 'payout_reject'
          ? {
              status: 'COMPENSATED',
              posted_minor: A,
              refunded_minor: 0,
              net_charged_minor: 0,
              codes: [[C.payout_hold, C.payout_posting, C.payout_reversal]],
              bank_paid_minor: 0,
            }
          : { status: 'DECLINED', posted_minor: 0, refunded_minor: 0, net_charged_minor: 0, codes: [[]], bank_paid_minor: 0 };
  }

  private async card(record: PaymentRecord): Promise<void> {
    const { payments } = this.clients;
    const r = createPrng(this.seed).fork(`payment-${record.index}-steps`);
    const A = record.amount_minor;
    const transaction = {
      paymentId: record.payment_id,
      cardId: record.kind === 'card_decline' ? this.fixtures.tiny_card : this.fixtures.card,
      currency: CURRENCY,
      merchant: { mcc: '5411', name: `Merchant ${record.index % 17}` },
    };
    const settled = (posted: number, codes: number[]): Expectation => ({
      status: 'SETTLED',
      posted_minor: posted,
      refunded_minor: 0,
      net_charged_minor: posted,
      codes: [codes],
      bank_paid_minor: null,
    });
    const clear = (event: string, amount: number, more: boolean) =>
      this.call(record, `clear ${event}`, () =>
        payments.clear({ transaction, eventId: event, amountMinor: BigInt(amount), moreToCome: more }, { timeoutMs: CALL_TIMEOUT_MS }),
      );

    if (record.kind === 'card_force_post') {
      await clear('c1', A, false);
      record.expected = settled(A, [C.card_force_post]);
      return;
    }
    const { decision } = await this.call(record, 'authorize', () =>
      payments.authorize(
        { transaction, amountMinor: BigInt(A), standIn: StandIn.DECLINE },
        { timeoutMs: record.authorization_timeout_ms ?? AUTHORIZATION_TIMEOUT_MS },
      ),
    );
    if (!decision?.approved) {
      record.stand_in = decision?.standIn ?? false;
      // Declined at once: nothing held. Declined by the stand-in: the hold, if one was placed, is released.
      record.expected = {
        status: 'DECLINED',
        posted_minor: 0,
        refunded_minor: 0,
        net_charged_minor: 0,
        codes: record.stand_in ? [[], [C.card_hold, C.card_hold_release]] : [[]],
        bank_paid_minor: null,
      };
      return;
    }
    switch (record.kind) {
      case 'card_clear':
        await clear('c1', A, false);
        record.expected = settled(A, [C.card_hold, C.card_clearing]);
        return;
      case 'card_partial_clear': {
        const part = r.int(1, A - 1);
        await clear('c1', part, true);
        await clear('c2', A - part, false);
        record.expected = settled(A, [C.card_hold, C.card_clearing, C.card_hold, C.card_clearing]);
        return;
      }
      case 'card_increment_clear': {
        const extra = r.int(100, 5_000);
        const inc = await this.call(record, 'increment i1', () =>
          payments.increment({ paymentId: record.payment_id, eventId: 'i1', amountMinor: BigInt(extra) }, { timeoutMs: CALL_TIMEOUT_MS }),
        );
        if (inc.decision?.approved) {
          await clear('c1', A + extra, false);
          record.expected = settled(A + extra, [C.card_hold, C.card_hold_release, C.card_hold, C.card_clearing]);
        } else {
          await clear('c1', A, false);
          // Declined, or approved too late and answered by the stand-in: then the workflow had
          // raised the hold (release + new hold) and put it back (release + the first amount).
          record.expected = {
            ...settled(A, [C.card_hold, C.card_clearing]),
            codes: [
              [C.card_hold, C.card_clearing],
              [C.card_hold, C.card_hold_release, C.card_hold, C.card_hold_release, C.card_hold, C.card_clearing],
            ],
          };
        }
        return;
      }
      case 'card_partial_reverse_clear': {
        const back = r.int(1, A - 1);
        await this.call(record, 'reverse r1', () =>
          payments.reverse({ paymentId: record.payment_id, eventId: 'r1', amountMinor: BigInt(back) }, { timeoutMs: CALL_TIMEOUT_MS }),
        );
        await clear('c1', A - back, false);
        record.expected = settled(A - back, [C.card_hold, C.card_hold_release, C.card_hold, C.card_clearing]);
        return;
      }
      case 'card_reverse':
        await this.call(record, 'reverse r1', () =>
          payments.reverse({ paymentId: record.payment_id, eventId: 'r1' }, { timeoutMs: CALL_TIMEOUT_MS }),
        );
        record.expected = {
          status: 'REVERSED',
          posted_minor: 0,
          refunded_minor: 0,
          net_charged_minor: 0,
          codes: [[C.card_hold, C.card_hold_release]],
          bank_paid_minor: null,
        };
        return;
      case 'card_refund':
      case 'card_partial_refund': {
        await clear('c1', A, false);
        const back = record.kind === 'card_refund' ? A : r.int(1, A - 1);
        await this.call(record, 'refund f1', () =>
          payments.refund({ transaction, eventId: 'f1', amountMinor: BigInt(back) }, { timeoutMs: CALL_TIMEOUT_MS }),
        );
        record.expected = {
          status: back === A ? 'REFUNDED' : 'SETTLED',
          posted_minor: A,
          refunded_minor: back,
          net_charged_minor: A - back,
          codes: [[C.card_hold, C.card_clearing, C.card_refund]],
          bank_paid_minor: null,
        };
        return;
      }
      case 'card_decline':
        // The tiny credit line approved what it cannot hold: the check says so.
        record.expected = settled(0, []);
        record.error = `authorization on the small credit line was approved (${A} > ${this.fixtures.tiny_limit_minor})`;
        return;
      default:
        throw new Error(`not a card path: ${record.kind}`);
    }
  }

  /** Polls the payment through the API until it is final (or the deadline passes). It is read at
   * least once, however late: a payment the checker never read is not one the platform lost (a
   * run whose one stuck payment used up the final wait reported the 354 payments after it "lost"). */
  async waitForFinal(record: PaymentRecord, deadline_ms: number): Promise<void> {
    for (let attempt = 0; attempt === 0 || Date.now() < deadline_ms; attempt++) {
      try {
        const { value } = await withRetries(this.stats, Math.max(deadline_ms, Date.now() + CALL_TIMEOUT_MS), () =>
          this.clients.payments.getPayment({ paymentId: record.payment_id }, { timeoutMs: CALL_TIMEOUT_MS }),
        );
        record.state = value.payment ?? null;
        if (record.state && isTerminal(record.state.status as PaymentStatus)) {
          record.done = true;
          return;
        }
      } catch (err) {
        // NOT_FOUND and the like: the checker decides what it means.
        record.wait_error = (err as Error).message;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 2_000)));
    }
  }
}
