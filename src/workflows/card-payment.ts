// A card purchase, from the network's first message to the last refund, as a thin interpreter of
// the pure lifecycle decider (src/domain/card-lifecycle.ts): each message is received in arrival
// order (one serial queue), handed to the decider, and the ledger steps it asks for run as
// activities whose results go back to it. What the decider decides is all there is to the money;
// this file adds Temporal: handlers, the expiry timer (armed whenever a hold exists), closing after
// the linger, and continue-as-new carrying the state and the messages already handled.
//
// Payments started before patched('card-decider') run the workflow they started with
// (src/workflows/card-payment-legacy.ts), so that their histories replay.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  CARD_HISTORY_EVENTS_CONTINUE_AT,
  CARD_WORKFLOW_VERSION,
  DEFAULT_CARD_OPTIONS,
  authorizationSchema,
  cardPaymentSchema,
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
import { handleCardMessage, type MessageOutcome } from '../domain/card-interpreter.js';
import {
  heldMinor,
  initialCardState,
  messageKey,
  type CardCommand,
  type CardMessage,
  type CardState,
  type CardStepResult,
} from '../domain/card-lifecycle.js';
import { formatMinor } from '../domain/money.js';
import { PATCH_CARD_DECIDER, type PaymentState } from '../domain/payment.js';
import { parseOrFail } from '../domain/validation.js';
import { legacyCardPaymentWorkflow } from './card-payment-legacy.js';
import { recordCardEvents } from './card-recording.js';
import { opsRefused, parseOpsAction, validateResolveAttention, withCurrentDetails } from './details.js';
import {
  authorizeUpdate,
  cardLifecycleQuery,
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
import { createSerialQueue } from './serial-queue.js';

/** The decision runs as a local activity (no round trip through a task queue while the network
 * waits), retried only until the network's deadline (schedule-to-close). */
const DECISION_RETRY_INITIAL_MS = 50;
const DECISION_RETRY_MAX_MS = 1_000;
const DECIDE_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: DECISION_RETRY_INITIAL_MS, backoffCoefficient: 2, maximumInterval: DECISION_RETRY_MAX_MS },
};
/** The least a decision gets, even when its deadline has passed (a stand-in approval's hold). */
const DECISION_BUDGET_MS_MIN = 1_000;

/** How many attempts of the decision fit in `budget_ms` with DECIDE_OPTIONS' backoff (each retry
 * waits initialInterval × 2^n, at most maximumInterval), the first included, at least 1. The
 * schedule-to-close timeout cuts an attempt that is still running at the deadline, but the SDK
 * goes on scheduling new attempts of a local activity that fails fast (measured:
 * test/integration/card-decision-deadline.test.ts), so the attempts are bounded as well. */
export function decisionAttemptsMax(budget_ms: number): number {
  const ATTEMPTS_MAX = 100;
  let waited_ms = 0;
  let attempts = 1;
  for (let wait_ms = DECISION_RETRY_INITIAL_MS; attempts < ATTEMPTS_MAX; attempts += 1) {
    waited_ms += wait_ms;
    if (waited_ms >= budget_ms) break;
    wait_ms = Math.min(wait_ms * 2, DECISION_RETRY_MAX_MS);
  }
  return attempts;
}
/** Stand-in holds and lifecycle steps: money the network already moved. Local activities too (no
 * activity task, no extra workflow task: a purchase's authorization and clearing cost one
 * workflow task each); retried for a bounded time, then the step fails, the payment is flagged,
 * and the next delivery of the message runs it again. */
const STEP_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '2 minutes',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};
const local = proxyLocalActivities<Activities>(DECIDE_OPTIONS);
const steps = proxyLocalActivities<Activities>(STEP_OPTIONS);

/** A payment flagged NeedsAttention stays open for ops (voidHold, resolveAttention) until the flag
 * is resolved, at most this long; an unflagged one closes after `linger_ms`. */
const ATTENTION_OPEN_MS_MAX = 120 * 24 * 60 * 60 * 1000;

/** Messages waiting for their turn, at most (Temporal accepts 10 in-flight updates per workflow;
 * signals are the rest). */
const MESSAGES_QUEUED_MAX = 64;

/** What a run hands to the next one (continue-as-new, or a late message after it closed). */
export interface CardCarried {
  lifecycle: CardState;
  view: PaymentState;
}

export async function cardPaymentWorkflow(
  input: CardPayment,
  options: CardWorkflowOptions = DEFAULT_CARD_OPTIONS,
  carried?: CardCarried,
): Promise<PaymentState> {
  // A versioned run (started by this code's card client) says so in its arguments: no patch
  // marker, no TemporalChangeVersion upsert. An unversioned one decides as it always did.
  const version = options.version;
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1 && version <= CARD_WORKFLOW_VERSION)) {
    // A newer client than this worker: fail the task (retried) until a worker that knows it takes it.
    throw new Error(`card workflow version ${version} is newer than this worker's ${CARD_WORKFLOW_VERSION}`);
  }
  if (version === undefined && !patched(PATCH_CARD_DECIDER)) return legacyCardPaymentWorkflow(input, options);
  const payment = parseOrFail(cardPaymentSchema, input, 'card payment');
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw ApplicationFailure.nonRetryable(`card options.${name} must be a non-negative integer, got ${value}`, 'InvalidPayment');
    }
  }
  const expiry_ms = options.hold_expiry_ms ?? holdExpiryMs(payment.merchant.mcc);
  let lifecycle: CardState =
    carried?.lifecycle ??
    initialCardState(payment.merchant.mcc, { decision_margin_ms: options.decision_margin_ms, hold_expiry_ms: expiry_ms });
  const view: PaymentState = carried?.view ?? {
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
  setHandler(getPaymentQuery, () => view);
  setHandler(cardLifecycleQuery, () => ({ lifecycle, view }));
  // Versioned runs write only what the visibility record does not already tell (payment-state.ts
  // implied_status); a SETTLED status waits for the run's own flush where it waits or closes
  // (`visible`, below): closing, SETTLED is implied.
  const recorder = withCurrentDetails(
    createPaymentRecorder(view, { coalesce_attributes: true, implied_status: version !== undefined }),
    view,
  );
  const visible = (execution: 'RUNNING' | 'COMPLETED') => recorder.flush(execution);
  const money = (amount_minor: number) => formatMinor(amount_minor, payment.currency);
  const queue = createSerialQueue(MESSAGES_QUEUED_MAX);
  let received = carried ? 1 : 0;

  const execute = async (command: CardCommand, state: CardState, message: CardMessage): Promise<CardStepResult> => {
    try {
      return await run(command, state, message);
    } catch (err) {
      return { kind: 'failed', error: err instanceof Error ? err.message : String(err) };
    }
  };
  const run = async (c: CardCommand, state: CardState, message: CardMessage): Promise<CardStepResult> => {
    const card = state.card === 'unknown' ? null : state.card;
    // What the step's activity needs to write the payment's event for the change it makes
    // (src/domain/events.ts). Local-activity inputs are not in the history: no cost, no replay change.
    const event_context = { state, message, command: c };
    switch (c.kind) {
      case 'decide_hold': {
        const budget_ms = c.deadline_at_ms === null ? null : Math.max(c.deadline_at_ms - Date.now(), DECISION_BUDGET_MS_MIN);
        const summary = c.stand_in_approved
          ? `hold ${money(c.hold_minor)} the network approved (stand-in)`
          : `decide: ${c.event_id} ${money(c.hold_minor)}`;
        const options: LocalActivityOptions = {
          ...DECIDE_OPTIONS,
          summary,
          ...(budget_ms !== null
            ? {
                scheduleToCloseTimeout: budget_ms,
                retry: { ...DECIDE_OPTIONS.retry, maximumAttempts: decisionAttemptsMax(budget_ms) },
              }
            : {}),
        };
        const r = await local.authorizeCard.executeWithOptions(options, [
          {
            payment,
            event_id: c.event_id,
            hold_minor: c.hold_minor,
            replaces: c.replaces ?? undefined,
            stand_in_approved: c.stand_in_approved,
            event_context,
          },
        ]);
        return { kind: 'decide_hold', ...r };
      }
      case 'release_hold': {
        const r = await steps.releaseCardHold.executeWithOptions(
          {
            ...STEP_OPTIONS,
            summary: `${c.event_id}: release ${money(c.hold.amount_minor - c.keep_minor)} of ${money(c.hold.amount_minor)} held`,
          },
          [{ payment, event_id: c.event_id, card, hold: c.hold, keep_minor: c.keep_minor, event_context }],
        );
        return { kind: 'release_hold', hold: r.hold, found: r.found, released_minor: r.released_minor };
      }
      case 'resolve_card':
        return {
          kind: 'resolve_card',
          card: await steps.resolveCard.executeWithOptions({ ...STEP_OPTIONS, summary: `look up card ${payment.card_id}` }, [payment]),
        };
      case 'clear': {
        const r = await steps.clearCard.executeWithOptions(
          {
            ...STEP_OPTIONS,
            summary: c.hold
              ? `${c.event_id}: post ${money(c.amount_minor)} against ${money(c.hold.amount_minor)} held${c.final ? ', final' : ''}`
              : `${c.event_id}: force post ${money(c.amount_minor)} (nothing held)`,
          },
          [{ payment, event_id: c.event_id, card, hold: c.hold, amount_minor: c.amount_minor, final: c.final, event_context }],
        );
        return { kind: 'clear', hold: r.hold, from_hold_minor: r.from_hold_minor, overlimit_minor: r.overlimit_minor };
      }
      case 'refund':
        await steps.refundCard.executeWithOptions({ ...STEP_OPTIONS, summary: `${c.event_id}: credit ${money(c.amount_minor)} back` }, [
          { payment, event_id: c.event_id, card, amount_minor: c.amount_minor, event_context },
        ]);
        return { kind: 'refund' };
    }
  };

  /** One message, handled to its end in its turn. Never throws: refusals and failed steps are in
   * the outcome, recorded; the caller decides what its sender is told. */
  const handle = (message: CardMessage): Promise<MessageOutcome> =>
    queue
      .run(async () => {
        const outcome = await handleCardMessage(lifecycle, message, {
          execute,
          now_ms: () => Date.now(),
          applied: (events, state) => {
            lifecycle = state;
            recordCardEvents(recorder, view, events, state);
          },
        });
        lifecycle = outcome.state;
        recorder.flush();
        return outcome;
      })
      .catch((err: unknown): MessageOutcome => {
        // Only a full queue (or a bug) gets here: the message is not handled, its sender retries; a
        // rejection never escapes a handler.
        const error = err instanceof Error ? err.message : String(err);
        recorder.note('message_not_handled', `${message.kind}: ${error}`);
        recorder.flush();
        return { state: lifecycle, events: [], failed: error };
      });
  /** What an update's sender is told when its message was refused or its step failed. */
  const orThrow = (outcome: MessageOutcome): MessageOutcome => {
    if (outcome.refused) {
      if (outcome.refused.type === 'OpsRefused') throw opsRefused(outcome.refused.message);
      throw ApplicationFailure.nonRetryable(outcome.refused.message, outcome.refused.type);
    }
    // Not booked yet: the sender delivers the message again (the payment is flagged meanwhile).
    if (outcome.failed) throw ApplicationFailure.nonRetryable(`not booked yet, deliver it again: ${outcome.failed}`, 'CardStepFailed');
    return outcome;
  };
  const accept = () => {
    received += 1;
  };
  const decisionReply = (): CardDecision => ({
    approved: lifecycle.decision?.approved ?? false,
    ...(lifecycle.decision?.reason ? { reason: lifecycle.decision.reason } : {}),
    stand_in: lifecycle.decision?.stand_in ?? false,
    held_minor: heldMinor(lifecycle),
  });

  setHandler(standInAdviceSignal, (advice) => {
    accept();
    // Recorded in the outcome like every message; a signal has no sender to answer.
    void handle({ kind: 'advice', stand_in: advice.stand_in === 'approve' ? 'approve' : 'decline' });
  });

  setHandler(
    authorizeUpdate,
    async (raw): Promise<AuthorizationReply> => {
      accept();
      const auth = authorizationSchema.parse(raw);
      orThrow(await handle({ kind: 'authorization', ...auth }));
      return { ...decisionReply(), card_id: payment.card_id };
    },
    {
      validator: (raw) => {
        const auth = authorizationSchema.parse(raw);
        if (lifecycle.authorization && lifecycle.authorization.amount_minor !== auth.amount_minor) {
          throw ApplicationFailure.nonRetryable(
            `payment ${payment.payment_id} was authorized for ${lifecycle.authorization.amount_minor} minor units; a repeat for ${auth.amount_minor} needs a new transaction id`,
            'AuthorizationConflict',
          );
        }
      },
    },
  );

  setHandler(
    incrementUpdate,
    async (raw): Promise<CardDecision> => {
      accept();
      const inc = incrementSchema.parse(raw);
      const message: CardMessage = { kind: 'increment', ...inc };
      orThrow(await handle(message));
      const answer = lifecycle.handled[messageKey(message)!];
      const decided = typeof answer === 'object' ? answer : { approved: false, stand_in: false };
      return { ...decided, held_minor: heldMinor(lifecycle) };
    },
    {
      validator: (raw) => {
        const inc = incrementSchema.parse(raw);
        const key = `increment:${inc.event_id}`;
        if (
          lifecycle.handled[key] === undefined &&
          !lifecycle.failing[key] &&
          lifecycle.status !== 'AUTHORIZED' &&
          lifecycle.status !== 'AUTHORIZING'
        ) {
          throw new Error(`an increment needs an approved, uncleared authorization; the payment is ${lifecycle.status}`);
        }
      },
    },
  );

  const viewAfter = (message: CardMessage) => async (): Promise<PaymentState> => {
    orThrow(await handle(message));
    return view;
  };
  setHandler(reverseUpdate, (raw) => (accept(), viewAfter({ kind: 'reversal', ...reversalSchema.parse(raw) })()), {
    validator: (raw) => {
      reversalSchema.parse(raw);
      if (!lifecycle.authorization && !lifecycle.decision && received === 0)
        throw new Error('a reversal needs an authorization to reverse');
    },
  });
  setHandler(clearUpdate, (raw) => (accept(), viewAfter({ kind: 'clearing', ...clearingSchema.parse(raw) })()), {
    validator: (raw) => void clearingSchema.parse(raw),
  });
  setHandler(refundUpdate, (raw) => (accept(), viewAfter({ kind: 'refund', ...refundSchema.parse(raw) })()), {
    validator: (raw) => {
      const ref = refundSchema.parse(raw);
      const key = `refund:${ref.event_id}`;
      const left = lifecycle.posted_minor - lifecycle.refunded_minor;
      if (lifecycle.handled[key] === undefined && !lifecycle.failing[key] && lifecycle.posted_minor > 0 && ref.amount_minor > left) {
        throw new Error(`refund of ${ref.amount_minor} exceeds what is left to refund (${left})`);
      }
    },
  });

  // Ops: release a stuck hold now (as expiry would), or clear the attention flag once people have
  // looked. A void waits its turn behind the network's messages, like any ledger write.
  setHandler(
    voidHoldUpdate,
    async (raw) => {
      const by = parseOpsAction(raw);
      const released = heldMinor(lifecycle);
      orThrow(await handle({ kind: 'void_hold' }));
      recorder.ops('voidHold', by, `${money(released)} released`);
      recorder.flush();
      return view;
    },
    {
      validator: (raw) => {
        parseOpsAction(raw);
        if (!lifecycle.hold) {
          throw opsRefused(
            `voidHold needs a payment that holds something; payment ${payment.payment_id} is ${lifecycle.status} and holds nothing`,
          );
        }
      },
    },
  );
  setHandler(
    resolveAttentionUpdate,
    (raw) => {
      recorder.resolveAttention(parseOpsAction(raw));
      lifecycle = { ...lifecycle, needs_attention: false };
      recorder.flush();
      return view;
    },
    { validator: (raw) => validateResolveAttention(view, raw) },
  );

  const continueAt = options.continue_as_new_after_events ?? CARD_HISTORY_EVENTS_CONTINUE_AT;
  const shouldContinue = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= continueAt;
  const carry = async (): Promise<never> => {
    await condition(() => queue.idle && allHandlersFinished());
    visible('RUNNING'); // the next run is open
    return continueAsNew<typeof cardPaymentWorkflow>(payment, options, { lifecycle, view });
  };

  // The first message starts the payment; a start whose message was refused closes quietly.
  if (!carried) {
    recorder.waitFor(`the network's first message (authorization, clearing or refund) within ${options.first_event_wait_ms} ms`);
    const started = await condition(() => received > 0, options.first_event_wait_ms, {
      summary: `wait ${options.first_event_wait_ms} ms for the network's first message`,
    });
    if (!started) {
      recorder.waitFor(null);
      recorder.transition('DECLINED', 'no_first_message', `nothing arrived within ${options.first_event_wait_ms} ms`);
      recorder.flush();
      visible('COMPLETED');
      return view;
    }
  }

  // Whenever something is held, its expiry is armed (a late approval, an increment, a partial
  // reversal, a kept clearing remainder all hold); once nothing is, the payment lingers for late
  // clearings and refunds, then closes.
  let linger_until_ms: number | null = null;
  let attention_until_ms: number | null = null;
  for (;;) {
    await condition(() => queue.idle);
    if (shouldContinue()) return carry();
    if (lifecycle.hold && lifecycle.expires_at_ms !== null) {
      linger_until_ms = null;
      const armed_for = lifecycle.expires_at_ms;
      const wait_ms = armed_for - Date.now();
      if (wait_ms > 0) {
        recorder.waitFor(
          `the merchant's clearing, a reversal or an increment; what is still held is released at ${new Date(armed_for).toISOString()} (expiry)`,
        );
        visible('RUNNING');
        const moved = await condition(() => !lifecycle.hold || lifecycle.expires_at_ms !== armed_for || shouldContinue(), wait_ms, {
          summary: `hold expiry (MCC ${payment.merchant.mcc})`,
        });
        if (moved) continue;
      }
      await condition(() => queue.idle);
      if (lifecycle.hold && lifecycle.expires_at_ms === armed_for) await handle({ kind: 'expiry' });
      continue;
    }
    if (lifecycle.needs_attention) {
      attention_until_ms ??= Date.now() + Math.max(options.linger_ms, ATTENTION_OPEN_MS_MAX);
      const wait_ms = attention_until_ms - Date.now();
      if (wait_ms > 0) {
        recorder.waitFor(
          `people: the payment needs attention (resolveAttention closes it), until ${new Date(attention_until_ms).toISOString()}`,
        );
        visible('RUNNING');
        const moved = await condition(() => !lifecycle.needs_attention || lifecycle.hold !== null || shouldContinue(), wait_ms, {
          summary: 'stay open until the attention flag is resolved',
        });
        if (moved) continue;
      }
    }
    linger_until_ms ??= Date.now() + options.linger_ms;
    const wait_ms = linger_until_ms - Date.now();
    if (wait_ms > 0) {
      recorder.waitFor(`late clearings and refunds until ${new Date(linger_until_ms).toISOString()}; then the payment closes`);
      visible('RUNNING');
      const moved = await condition(() => lifecycle.hold !== null || shouldContinue(), wait_ms, {
        summary: `stay open ${options.linger_ms} ms for late clearings and refunds`,
      });
      if (moved) continue;
    }
    await condition(() => queue.idle && allHandlersFinished());
    if (lifecycle.hold === null) break;
  }
  recorder.waitFor(null);
  recorder.flush();
  visible('COMPLETED');
  return view;
}
