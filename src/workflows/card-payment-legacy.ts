// The card payment workflow as it ran before the lifecycle became a pure decider
// (patched('card-decider'), src/workflows/card-payment.ts): kept unchanged so that payments started
// before it replay and finish as they began, but for one addition behind
// patched('legacy-card-events'): the changes such a payment makes now write their events (issue 16).
// Delete it with the patch (test/histories/README.md).
//
// A card purchase, from the network's first message to the last refund: authorization (a hold,
// decided synchronously through update-with-start), increments, reversals, clearings (several,
// partial, over the hold within a tolerance, or with no hold at all: force post), refunds, and
// expiry of what stays held. One workflow per network transaction id.
//
// Events are handled one at a time, in arrival order: each is a ledger write whose input is the
// previous one's result (the hold it resizes). A repeated event (same kind and id) returns the
// first one's result and writes nothing.
import {
  ApplicationFailure,
  condition,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  patched,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CardAccount, HoldRef } from '../activities/card.js';
import {
  CARD_EVENTS_PER_PAYMENT_MAX,
  DEFAULT_CARD_OPTIONS,
  authorizationSchema,
  cardPaymentSchema,
  clearingCeilingMinor,
  clearingSchema,
  holdExpiryMs,
  incrementSchema,
  refundSchema,
  reversalSchema,
  type AuthorizationReply,
  type CardDecision,
  type CardPayment,
  type CardWorkflowOptions,
} from '../domain/card.js';
import { formatMinor } from '../domain/money.js';
import type { PaymentEventType } from '../domain/events.js';
import { PATCH_CARD_COALESCED_ATTRIBUTES, PATCH_LEGACY_CARD_EVENTS, type PaymentState } from '../domain/payment.js';
import { AmountMinorKey, CompanyIdKey } from '../domain/search-attributes.js';
import { parseOrFail } from '../domain/validation.js';
import { opsRefused, parseOpsAction, validateResolveAttention, withCurrentDetails } from './details.js';
import {
  authorizeUpdate,
  clearUpdate,
  getPaymentQuery,
  incrementUpdate,
  refundUpdate,
  resolveAttentionUpdate,
  reverseUpdate,
  standInAdviceSignal,
  voidHoldUpdate,
} from './messages.js';
import { createPaymentRecorder } from './payment-state.js';

/** The decision runs as a local activity: no round trip through the server's task queue while
 * the network waits. Retried briefly; a decision that cannot be made in time is the stand-in's. */
const DECIDE_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '50 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds' },
};
const decide = proxyLocalActivities<Activities>(DECIDE_OPTIONS);

/** A change's event (issue 16), written by a local activity: no round trip through the task
 * queue, retried until written (the change happened). */
const RECORD_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const record = proxyLocalActivities<Activities>(RECORD_OPTIONS);

/** Lifecycle steps: money the network has already moved, so retried until they succeed. */
const STEP_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const steps = proxyActivities<Activities>(STEP_OPTIONS);

/** Each call carries a summary for the Web UI (user metadata on the command: replay does not
 * compare it, so histories recorded without summaries still replay). */
const decision = (summary: string): LocalActivityOptions => ({ ...DECIDE_OPTIONS, summary });
const step = (summary: string): ActivityOptions => ({ ...STEP_OPTIONS, summary });

function invalidEvent(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'InvalidCardEvent');
}

export async function legacyCardPaymentWorkflow(
  input: CardPayment,
  options: CardWorkflowOptions = DEFAULT_CARD_OPTIONS,
): Promise<PaymentState> {
  const payment = parseOrFail(cardPaymentSchema, input, 'card payment');
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw ApplicationFailure.nonRetryable(`card options.${name} must be a non-negative integer, got ${value}`, 'InvalidPayment');
    }
  }
  const state: PaymentState = {
    payment_id: payment.payment_id,
    kind: 'card',
    status: 'RECEIVED',
    currency: payment.currency,
    amount_minor: 0,
    authorized_minor: 0,
    held_minor: 0,
    posted_minor: 0,
    reversed_minor: 0,
    refunded_minor: 0,
    settled_minor: 0,
    card_id: payment.card_id,
    merchant_mcc: payment.merchant.mcc,
    needs_attention: false,
    timeline: [],
  };
  setHandler(getPaymentQuery, () => state);
  // Payments started before this change upsert each search attribute on its own; newer ones send
  // one upsert per event (fewer history events and visibility writes per payment).
  const recorder = withCurrentDetails(
    createPaymentRecorder(state, { coalesce_attributes: patched(PATCH_CARD_COALESCED_ATTRIBUTES) }),
    state,
  );
  const { transition, note, markNeedsAttention, setAttribute, waitFor } = recorder;
  const money = (amount_minor: number) => formatMinor(amount_minor, payment.currency);
  /** Answers `value` once the event of the change just made is written (issue 16). Payments still
   * running this code get events for the changes they make from now on: a change replayed from
   * before patched('legacy-card-events') wrote none and writes none (no command, nothing awaited:
   * those histories replay unchanged). A card the issuer does not know belongs to no company: no
   * event, as in the current workflow. */
  const emitted = <T>(type: PaymentEventType | null, change_key: string, value: T): T | Promise<T> => {
    if (type === null || !state.company_id || !patched(PATCH_LEGACY_CARD_EVENTS)) return value;
    return record.appendLegacyPaymentEvent
      .executeWithOptions({ ...RECORD_OPTIONS, summary: `event ${type}` }, [{ type, change_key, payment: { ...state, timeline: [] } }])
      .then(() => value);
  };
  const DAY_MS = 24 * 60 * 60 * 1000;
  const after = (ms: number) => new Date(Date.now() + ms).toISOString().slice(0, 16).replace('T', ' ');
  waitFor(`the network's first message (authorization, clearing or refund) within ${options.first_event_wait_ms} ms`);

  /** undefined: not looked up yet; null: the issuer does not know the card. */
  let card: CardAccount | null | undefined;
  let hold: HoldRef | null = null;
  let events = 0;
  let busy = 0;

  // One event at a time, in arrival order.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    busy += 1;
    const run = tail.then(fn).finally(() => {
      busy -= 1;
    });
    tail = run.catch(() => undefined);
    return run;
  };
  // A repeated event gets the first one's result (or failure), and runs nothing.
  const results = new Map<string, Promise<unknown>>();
  const once = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const seen = results.get(key);
    if (seen) return seen as Promise<T>;
    events += 1;
    const run = serial(fn).finally(() => recorder.flush());
    results.set(key, run);
    return run;
  };
  const acceptEvent = (key: string) => {
    if (!results.has(key) && events >= CARD_EVENTS_PER_PAYMENT_MAX) {
      throw new Error(`payment ${payment.payment_id} has had ${events} events, the most one payment accepts`);
    }
  };

  const setHold = (next: HoldRef | null) => {
    hold = next;
    state.held_minor = next?.amount_minor ?? 0;
  };
  const resolveCard = async (): Promise<CardAccount | null> => {
    if (card === undefined) {
      card = await steps.resolveCard.executeWithOptions(step(`look up card ${payment.card_id}`), [payment]);
      if (card) setAttribute({ key: CompanyIdKey, value: card.company_id });
      else markNeedsAttention('unknown_card', `card ${payment.card_id} is not known: booked on the over-limit receivable`);
      if (card) state.company_id = card.company_id;
    }
    return card;
  };
  /** Where a payment stands once nothing is held. */
  const settledStatus = () => {
    if (state.posted_minor > 0 && state.refunded_minor >= state.posted_minor) return 'REFUNDED' as const;
    if (state.posted_minor === 0 && state.refunded_minor > 0) return 'REFUNDED' as const;
    return state.posted_minor > 0 ? ('SETTLED' as const) : null;
  };

  // The network's stand-in advice (standInAdviceSignal): handled once, in event order.
  let advisedDecline = false;
  setHandler(standInAdviceSignal, (advice) => {
    if (results.has('stand_in_advice')) return;
    void once('stand_in_advice', async () => {
      let change: PaymentEventType | null = null;
      if (advice.stand_in === 'approve') {
        if (state.decision && !state.decision.approved) {
          markNeedsAttention('stand_in_approved_advice', 'the network approved by stand-in a payment we declined');
        }
        return state;
      }
      if (!state.decision) {
        // The authorization has not reached the payment (it may come later, and is then handled
        // as late): it is declined, by the network.
        advisedDecline = true;
        await resolveCard();
        state.decision = { approved: false, reason: 'late_decision', stand_in: true };
        state.decline_reason = 'late_decision';
        transition('DECLINED', 'stand_in_declined', 'advice: the authorization did not reach the payment in time');
        change = 'payment.declined';
      } else if (state.decision.approved && !state.decision.stand_in && state.status === 'AUTHORIZED' && state.posted_minor === 0) {
        // Approved in time by our clock, but the answer reached the network after its deadline.
        advisedDecline = true;
        if (hold) {
          const released = hold.amount_minor;
          const { hold: left } = await steps.releaseCardHold.executeWithOptions(
            step(`stand-in advice: void the hold of ${money(released)} the network declined`),
            [{ payment, event_id: 'authorization:stand_in_advice', card: card ?? null, hold, keep_minor: 0 }],
          );
          setHold(left);
        }
        state.decision = { approved: false, reason: 'late_decision', stand_in: true };
        state.decline_reason = 'late_decision';
        transition('DECLINED', 'stand_in_declined', 'advice: our approval reached the network after its deadline');
        change = 'payment.declined';
      }
      return emitted(change, 'stand_in_advice', state);
    });
  });

  setHandler(
    authorizeUpdate,
    (raw) => {
      // A repeat (a retry under its own update id) answers the decision as it stands once the
      // events before it ran: a stand-in advice received meanwhile has the last word.
      const first = results.get('authorization') as Promise<AuthorizationReply> | undefined;
      if (first) {
        return first.then((reply) =>
          serial(async () => (state.decision ? { ...state.decision, held_minor: state.held_minor, card_id: payment.card_id } : reply)),
        );
      }
      return once('authorization', async (): Promise<AuthorizationReply> => {
        const auth = authorizationSchema.parse(raw);
        state.amount_minor = auth.amount_minor;
        setAttribute({ key: AmountMinorKey, value: auth.amount_minor });
        transition('AUTHORIZING', 'authorization_requested', `stand-in ${auth.stand_in}`);
        const result = await decide.authorizeCard.executeWithOptions(decision(`decide: authorize ${money(auth.amount_minor)}`), [
          { payment, event_id: 'authorization', hold_minor: auth.amount_minor, stand_in_approved: false },
        ]);
        if (result.card) {
          card = result.card;
          state.company_id = result.card.company_id;
          setAttribute({ key: CompanyIdKey, value: result.card.company_id });
        }
        // Late by the deadline, or the network already said it answered the stand-in (an advice
        // that arrived first: a decision attempt whose workflow task was lost may have held).
        const late = advisedDecline || result.decided_at_ms > auth.deadline_at_ms - options.decision_margin_ms;
        if (!late) {
          if (result.approved && result.hold) {
            setHold(result.hold);
            state.authorized_minor = auth.amount_minor;
            state.decision = { approved: true, stand_in: false };
            transition('AUTHORIZED', 'hold_placed');
          } else {
            state.decision = { approved: false, reason: result.reason ?? 'card_not_found', stand_in: false };
            state.decline_reason = state.decision.reason;
            transition('DECLINED', 'authorization_declined', state.decline_reason);
          }
        } else if (auth.stand_in === 'decline') {
          // The network already told the merchant "declined": a hold placed now would take
          // credit for a purchase that did not happen.
          if (result.approved && result.hold) {
            setHold(result.hold);
            note('hold_placed_late', `decided ${result.decided_at_ms - auth.deadline_at_ms} ms after the deadline`);
            const { hold: left } = await steps.releaseCardHold.executeWithOptions(
              step(`void the late hold of ${money(result.hold.amount_minor)} (stand-in declined)`),
              [{ payment, event_id: 'authorization:late', card: card ?? null, hold: result.hold, keep_minor: 0 }],
            );
            setHold(left);
          }
          state.decision = { approved: false, reason: 'late_decision', stand_in: true };
          state.decline_reason = 'late_decision';
          transition('DECLINED', 'stand_in_declined', result.approved ? 'late approval voided' : `late decline: ${result.reason}`);
        } else {
          // The network approved for us: the purchase happened, so it is held whatever our
          // answer would have been, past the limit if need be; people decide what to do.
          let placed = result.approved ? result.hold : undefined;
          if (!placed) {
            const forced = await decide.authorizeCard.executeWithOptions(
              decision(`hold ${money(auth.amount_minor)} the network approved (stand-in)`),
              [{ payment, event_id: 'authorization:stand_in', hold_minor: auth.amount_minor, stand_in_approved: true }],
            );
            placed = forced.hold;
          }
          if (!placed) throw ApplicationFailure.nonRetryable('stand-in hold was not placed', 'LedgerUnexpectedResult');
          setHold(placed);
          state.authorized_minor = auth.amount_minor;
          state.decision = { approved: true, stand_in: true };
          transition('AUTHORIZED', 'stand_in_approved', result.approved ? 'late approval' : `we would have declined: ${result.reason}`);
          markNeedsAttention('stand_in_approved', placed.overlimit ? 'held on the over-limit receivable' : 'held on the credit line');
        }
        return emitted(state.decision.approved ? 'payment.authorized' : 'payment.declined', 'authorization', {
          ...state.decision,
          held_minor: state.held_minor,
          card_id: payment.card_id,
        });
      });
    },
    {
      validator: (raw) => {
        authorizationSchema.parse(raw);
        acceptEvent('authorization');
        if (!results.has('authorization') && events - (results.has('stand_in_advice') ? 1 : 0) > 0) {
          throw new Error('this payment already has a clearing or refund: an authorization must be its first message');
        }
      },
    },
  );

  setHandler(
    incrementUpdate,
    (raw) => {
      const inc = incrementSchema.parse(raw);
      return once(`increment:${inc.event_id}`, async (): Promise<CardDecision> => {
        if (!hold || state.status !== 'AUTHORIZED')
          throw invalidEvent('nothing is held: an increment needs an approved, uncleared authorization');
        const result = await decide.authorizeCard.executeWithOptions(
          decision(`decide: increment ${inc.event_id} +${money(inc.amount_minor)}, ${money(hold.amount_minor + inc.amount_minor)} in all`),
          [
            {
              payment,
              event_id: `increment:${inc.event_id}`,
              hold_minor: hold.amount_minor + inc.amount_minor,
              replaces: hold,
              stand_in_approved: false,
            },
          ],
        );
        if (result.approved && result.hold) {
          setHold(result.hold);
          state.authorized_minor += inc.amount_minor;
          transition('AUTHORIZED', 'increment_approved', `+${inc.amount_minor}`);
          return emitted('payment.updated', `increment:${inc.event_id}`, { approved: true, stand_in: false, held_minor: state.held_minor });
        }
        note('increment_declined', result.reason);
        return { approved: false, ...(result.reason ? { reason: result.reason } : {}), stand_in: false, held_minor: state.held_minor };
      });
    },
    {
      validator: (raw) => {
        const inc = incrementSchema.parse(raw);
        acceptEvent(`increment:${inc.event_id}`);
        if (!results.has(`increment:${inc.event_id}`) && state.status !== 'AUTHORIZED' && state.status !== 'AUTHORIZING') {
          throw new Error(`an increment needs an approved, uncleared authorization; the payment is ${state.status}`);
        }
      },
    },
  );

  setHandler(
    reverseUpdate,
    (raw) => {
      const rev = reversalSchema.parse(raw);
      return once(`reversal:${rev.event_id}`, async () => {
        if (!hold) {
          note('reversal_ignored', 'nothing is held');
          return state;
        }
        const released = Math.min(rev.amount_minor ?? hold.amount_minor, hold.amount_minor);
        const { hold: left } = await steps.releaseCardHold.executeWithOptions(
          step(`reversal ${rev.event_id}: release ${money(released)} of ${money(hold.amount_minor)} held`),
          [{ payment, event_id: `reversal:${rev.event_id}`, card: card ?? null, hold, keep_minor: hold.amount_minor - released }],
        );
        setHold(left);
        if (left) transition(state.status, 'hold_partly_reversed', `-${released}`);
        else transition(settledStatus() ?? 'REVERSED', 'hold_reversed', `-${released}`);
        return emitted(state.status === 'REVERSED' ? 'payment.reversed' : 'payment.updated', `reversal:${rev.event_id}`, state);
      });
    },
    {
      validator: (raw) => {
        const rev = reversalSchema.parse(raw);
        acceptEvent(`reversal:${rev.event_id}`);
        if (state.decision === undefined && !results.has('authorization')) throw new Error('a reversal needs an authorization to reverse');
      },
    },
  );

  setHandler(
    clearUpdate,
    (raw) => {
      const clr = clearingSchema.parse(raw);
      return once(`clearing:${clr.event_id}`, async () => {
        const account = await resolveCard();
        const held = hold;
        const { hold: left, overlimit_minor } = await steps.clearCard.executeWithOptions(
          step(
            held
              ? `clearing ${clr.event_id}: post ${money(clr.amount_minor)} against ${money(held.amount_minor)} held${clr.final ? ', final' : ''}`
              : `clearing ${clr.event_id}: force post ${money(clr.amount_minor)} (nothing held)`,
          ),
          [{ payment, event_id: `clearing:${clr.event_id}`, card: account, hold: held, amount_minor: clr.amount_minor, final: clr.final }],
        );
        setHold(left);
        state.posted_minor += clr.amount_minor;
        const event = held ? 'clearing_posted' : 'force_posted';
        const detail = held
          ? `${clr.amount_minor} of ${held.amount_minor} held${clr.final ? ', final' : ''}`
          : `${clr.amount_minor}, nothing held`;
        transition(left ? 'POSTED' : (settledStatus() ?? 'SETTLED'), event, detail);
        if (state.authorized_minor > 0 && state.posted_minor > clearingCeilingMinor(state.authorized_minor, payment.merchant.mcc)) {
          markNeedsAttention('clearing_over_tolerance', `cleared ${state.posted_minor} against ${state.authorized_minor} authorized`);
        }
        if (overlimit_minor > 0) markNeedsAttention('charged_over_limit', `${overlimit_minor} booked on the over-limit receivable`);
        return emitted(left ? 'payment.posted' : 'payment.settled', `clearing:${clr.event_id}`, state);
      });
    },
    {
      validator: (raw) => {
        const clr = clearingSchema.parse(raw);
        acceptEvent(`clearing:${clr.event_id}`);
      },
    },
  );

  setHandler(
    refundUpdate,
    (raw) => {
      const ref = refundSchema.parse(raw);
      return once(`refund:${ref.event_id}`, async () => {
        if (state.posted_minor > 0 && state.refunded_minor + ref.amount_minor > state.posted_minor) {
          throw invalidEvent(`refund of ${ref.amount_minor} exceeds what is left to refund (${state.posted_minor - state.refunded_minor})`);
        }
        const account = await resolveCard();
        await steps.refundCard.executeWithOptions(step(`refund ${ref.event_id}: credit ${money(ref.amount_minor)} back`), [
          { payment, event_id: `refund:${ref.event_id}`, card: account, amount_minor: ref.amount_minor },
        ]);
        state.refunded_minor += ref.amount_minor;
        if (state.posted_minor === 0) note('refund_unlinked', 'no clearing on this payment to refund');
        transition(hold ? state.status : (settledStatus() ?? state.status), 'refunded', String(ref.amount_minor));
        return emitted('payment.refunded', `refund:${ref.event_id}`, state);
      });
    },
    {
      validator: (raw) => {
        const ref = refundSchema.parse(raw);
        acceptEvent(`refund:${ref.event_id}`);
        if (
          !results.has(`refund:${ref.event_id}`) &&
          state.posted_minor > 0 &&
          state.refunded_minor + ref.amount_minor > state.posted_minor
        ) {
          throw new Error(`refund of ${ref.amount_minor} exceeds what is left to refund (${state.posted_minor - state.refunded_minor})`);
        }
      },
    },
  );

  // Ops: release a stuck hold now (as expiry would), or clear the attention flag once people have
  // looked. Registering handlers adds no command; only a payment that receives one records new
  // events. A void waits its turn behind the network's messages, like any ledger write.
  setHandler(
    voidHoldUpdate,
    (raw) => {
      const by = parseOpsAction(raw);
      return serial(async () => {
        if (!hold) throw opsRefused(`payment ${payment.payment_id} holds nothing any more (it is ${state.status})`);
        const released = hold.amount_minor;
        const { hold: left } = await steps.releaseCardHold.executeWithOptions(
          step(`ops void by ${by.operator}: release ${money(released)} held`),
          [{ payment, event_id: 'ops:void_hold', card: card ?? null, hold, keep_minor: 0 }],
        );
        setHold(left);
        recorder.ops('voidHold', by, `${money(released)} released`, settledStatus() ?? 'EXPIRED');
        return emitted(state.status === 'EXPIRED' ? 'payment.expired' : 'payment.updated', 'ops:void_hold', state);
      }).finally(() => recorder.flush());
    },
    {
      validator: (raw) => {
        parseOpsAction(raw);
        if (!hold)
          throw opsRefused(
            `voidHold needs a payment that holds something; payment ${payment.payment_id} is ${state.status} and holds nothing`,
          );
      },
    },
  );
  setHandler(
    resolveAttentionUpdate,
    (raw) => {
      recorder.resolveAttention(parseOpsAction(raw));
      recorder.flush();
      return state;
    },
    { validator: (raw) => validateResolveAttention(state, raw) },
  );

  // The first message starts the payment; a start whose message was refused closes quietly.
  const started = await condition(() => events > 0, options.first_event_wait_ms, {
    summary: `wait ${options.first_event_wait_ms} ms for the network's first message`,
  });
  if (!started) {
    waitFor(null);
    transition('DECLINED', 'no_first_message', `nothing arrived within ${options.first_event_wait_ms} ms`);
    recorder.flush();
    return state;
  }
  await condition(() => busy === 0);

  // What is still held when the merchant category's expiry comes is released; the payment stays
  // open, so a clearing that arrives later is still posted (as a force post).
  if (hold !== null) {
    const expiry_ms = options.hold_expiry_ms ?? holdExpiryMs(payment.merchant.mcc);
    waitFor(`the merchant's clearing, a reversal or an increment; what is still held is released at ${after(expiry_ms)} UTC (expiry)`);
    const closed = await condition(() => hold === null, expiry_ms, {
      summary: `hold expiry after ${Math.round((expiry_ms / DAY_MS) * 100) / 100} days (MCC ${payment.merchant.mcc})`,
    });
    if (!closed) {
      await serial(async () => {
        if (!hold) return;
        const expired = hold.amount_minor;
        const { hold: left } = await steps.releaseCardHold.executeWithOptions(step(`expiry: release ${money(expired)} still held`), [
          { payment, event_id: 'expiry', card: card ?? null, hold, keep_minor: 0 },
        ]);
        setHold(left);
        transition(settledStatus() ?? 'EXPIRED', 'hold_expired', `${expired} released after ${expiry_ms} ms`);
        return emitted(state.status === 'EXPIRED' ? 'payment.expired' : 'payment.updated', 'expiry', undefined);
      });
      recorder.flush();
    }
  }

  // Late clearings and refunds are still accepted for a while; then the payment closes.
  waitFor(`late clearings and refunds until ${after(options.linger_ms)} UTC; then the payment closes`);
  await sleep(options.linger_ms, {
    summary: `stay open ${Math.round((options.linger_ms / DAY_MS) * 100) / 100} days for late clearings and refunds`,
  });
  await condition(() => busy === 0);
  waitFor(null);
  return state;
}
