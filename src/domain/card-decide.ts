// The card lifecycle's decisions: `decide(state, input, now_ms)` says what a network message (or
// the result of the ledger step it asked for) does — the events that happened and the next ledger
// step — one function per kind of message. Pure, like the state and events it works on
// (src/domain/card-lifecycle.ts); the workflow and the unit tests run it through
// src/domain/card-interpreter.ts.
import { clearingCeilingMinor } from './card.js';
import {
  CARD_MESSAGES_PER_PAYMENT_MAX,
  evolveAll,
  messageKey,
  type CardCommand,
  type CardEvent,
  type CardInput,
  type CardMessage,
  type CardState,
  type CardStep,
  type CardStepResult,
  type DecisionAnswer,
  type HoldRef,
  type RefusalType,
  type ReleaseCause,
} from './card-lifecycle.js';

const refuse = (type: RefusalType, message: string): CardStep => ({ events: [], command: null, refused: { type, message } });
const done = (...events: CardEvent[]): CardStep => ({ events, command: null });

/** Runs the rest of a message's handling on the state its first events made: lets a step end
 * with events and go on (e.g. the card looked up, then the clearing). */
function andThen(s: CardState, events: CardEvent[], input: CardInput, now_ms: number): CardStep {
  const next = decide(evolveAll(s, events), input, now_ms);
  return { ...next, events: [...events, ...next.events] };
}

function stepFailed(key: string, command: CardCommand, error: string, now_ms: number, retry = false): CardStep {
  return {
    events: [{ type: 'step_failed', key, step: command.kind, error, at_ms: now_ms, ...(retry ? { retry: command } : {}) }],
    command: null,
    failed: `${command.kind} failed: ${error}`,
  };
}

export function decide(s: CardState, input: CardInput, now_ms: number): CardStep {
  const m = input.message;
  const key = messageKey(m);
  if (!input.step) {
    if (m.kind === 'authorization' && s.authorization && s.authorization.amount_minor !== m.amount_minor) {
      return refuse(
        'AuthorizationConflict',
        `payment already authorized for ${s.authorization.amount_minor} minor units; a repeat asks for ${m.amount_minor}: a new amount needs a new transaction id`,
      );
    }
    if (key !== null && s.handled[key] !== undefined) return done();
    if (key !== null && Object.keys(s.handled).length >= CARD_MESSAGES_PER_PAYMENT_MAX) {
      return refuse('InvalidCardEvent', `payment has handled ${CARD_MESSAGES_PER_PAYMENT_MAX} messages, the most one payment accepts`);
    }
  }
  switch (m.kind) {
    case 'authorization':
      return decideAuthorization(s, m, input.step, now_ms);
    case 'increment':
      return decideIncrement(s, m, input.step, now_ms);
    case 'reversal':
      return decideReversal(s, m, input.step, now_ms);
    case 'clearing':
    case 'refund':
      return decidePosting(s, m, input, now_ms);
    case 'advice':
      return decideAdvice(s, m, input, now_ms);
    case 'expiry':
    case 'void_hold':
      return decideRelease(s, m, input.step, now_ms);
  }
}

type Step = CardInput['step'];
type Of<K extends CardMessage['kind']> = Extract<CardMessage, { kind: K }>;

function isLate(s: CardState, decided_at_ms: number, deadline_at_ms: number): boolean {
  return decided_at_ms > deadline_at_ms - s.decision_margin_ms;
}

/** Why a decision counts as late, in words: the network's own answer came first (its advice), or
 * ours came after the deadline, or too close to it for the answer to reach the network. */
function lateness(s: CardState, decided_at_ms: number, deadline_at_ms: number): string {
  if (s.advice === 'decline') return 'the network answered the stand-in before our decision';
  const late_ms = decided_at_ms - deadline_at_ms;
  if (late_ms > 0) return `decided ${late_ms} ms after the deadline`;
  return `decided ${-late_ms} ms before the deadline, inside the ${s.decision_margin_ms} ms answer margin`;
}

function decideAuthorization(s: CardState, m: Of<'authorization'>, step: Step, now_ms: number): CardStep {
  const handled = (answer?: DecisionAnswer): CardEvent => ({ type: 'handled', key: 'authorization', ...(answer ? { answer } : {}) });
  // Declined because the decision came too late: the network's stand-in decline when its advice
  // said so, else our own late decline (the network may still stand in: its advice then follows).
  const lateDecline = (detail: string, final = true): CardEvent => ({
    type: 'declined',
    reason: 'late_decision',
    stand_in: true,
    network_stood_in: s.advice === 'decline',
    detail,
    final,
  });
  if (!step) {
    const others = [...Object.keys(s.handled), ...Object.keys(s.failing)].filter((k) => k !== 'stand_in_advice');
    if (others.length > 0)
      return refuse('InvalidCardEvent', 'this payment already has a clearing or refund: an authorization must be its first message');
    const requested: CardEvent = {
      type: 'authorization_requested',
      amount_minor: m.amount_minor,
      deadline_at_ms: m.deadline_at_ms,
      stand_in: m.stand_in,
    };
    if (s.advice === 'decline') {
      // The network already told the merchant "declined": nothing is decided. A decision attempt
      // whose workflow task was lost (a worker died) may have held: released if it did.
      return {
        events: [requested, ...(s.decision ? [{ type: 'noted', event: 'authorization_after_advice' } as CardEvent] : [])],
        command: {
          kind: 'release_hold',
          event_id: 'authorization:late',
          hold: { key: 'authorization', amount_minor: m.amount_minor, overlimit: false },
          keep_minor: 0,
          probe: true,
        },
      };
    }
    return {
      events: [requested],
      command: {
        kind: 'decide_hold',
        event_id: 'authorization',
        hold_minor: m.amount_minor,
        replaces: null,
        stand_in_approved: false,
        deadline_at_ms: m.deadline_at_ms,
      },
    };
  }
  const { command, result } = step;
  if (command.kind === 'decide_hold' && !command.stand_in_approved) {
    if (result.kind === 'failed') {
      // No answer in time: the network's stand-in is the answer. An attempt that placed a hold
      // before its answer was lost must not leave it behind (decline), or is the hold (approve).
      const noted: CardEvent = { type: 'noted', event: 'decision_failed', detail: result.error };
      if (m.stand_in === 'approve') {
        return {
          events: [noted],
          command: { ...command, stand_in_approved: true, deadline_at_ms: null },
        };
      }
      return {
        events: [noted],
        command: {
          kind: 'release_hold',
          event_id: 'authorization:late',
          hold: { key: 'authorization', amount_minor: m.amount_minor, overlimit: false },
          keep_minor: 0,
          probe: true,
        },
      };
    }
    if (result.kind !== 'decide_hold') return unexpectedResult(command, result);
    const events: CardEvent[] = [];
    if (result.card && s.card === 'unknown') events.push({ type: 'card_resolved', card: result.card });
    const late = s.advice === 'decline' || isLate(s, result.decided_at_ms, m.deadline_at_ms);
    if (!late) {
      if (result.approved && result.hold) {
        events.push(
          { type: 'hold_placed', hold: result.hold, at_ms: now_ms, detail: 'approved' },
          { type: 'authorized', stand_in: false, authorized_minor: m.amount_minor },
          handled(),
        );
      } else {
        const reason = result.reason ?? 'card_not_found';
        events.push({ type: 'declined', reason, stand_in: false, network_stood_in: false, detail: reason, final: true }, handled());
      }
      return done(...events);
    }
    const why = lateness(s, result.decided_at_ms, m.deadline_at_ms);
    if (m.stand_in === 'decline') {
      if (result.approved && result.hold) {
        events.push({ type: 'hold_placed', hold: result.hold, at_ms: now_ms, detail: `late: approved, ${why}` });
        return {
          events,
          command: { kind: 'release_hold', event_id: 'authorization:late', hold: result.hold, keep_minor: 0, probe: false },
        };
      }
      events.push(lateDecline(`${result.reason ?? 'card_not_found'}, ${why}`), handled());
      return done(...events);
    }
    if (result.approved && result.hold) {
      events.push(
        { type: 'hold_placed', hold: result.hold, at_ms: now_ms, detail: 'late approval (stand-in approved)' },
        { type: 'authorized', stand_in: true, authorized_minor: m.amount_minor, detail: 'late approval' },
        { type: 'attention', reason: 'stand_in_approved', detail: 'held on the credit line' },
        handled(),
      );
      return done(...events);
    }
    // The network approved for us: the purchase happened, so it is held whatever our answer
    // would have been, past the limit if need be; people decide what to do.
    return { events, command: { ...command, stand_in_approved: true, deadline_at_ms: null } };
  }
  if (command.kind === 'decide_hold') {
    // The stand-in approval's hold.
    if (result.kind === 'decide_hold' && result.approved && result.hold) {
      return done(
        ...(result.card && s.card === 'unknown' ? [{ type: 'card_resolved', card: result.card } as CardEvent] : []),
        { type: 'hold_placed', hold: result.hold, at_ms: now_ms, detail: 'stand-in approved' },
        { type: 'authorized', stand_in: true, authorized_minor: m.amount_minor, detail: 'we would have declined' },
        {
          type: 'attention',
          reason: 'stand_in_approved',
          detail: result.hold.overlimit ? 'held on the over-limit receivable' : 'held on the credit line',
        },
        handled(),
      );
    }
    const error = result.kind === 'failed' ? result.error : 'stand-in hold was not placed';
    // The network approved; whether an attempt held is unknown: the hold is assumed (expiry
    // releases it if it exists, on the line or over the limit), and people look.
    return done(
      { type: 'attention', reason: 'stand_in_hold_failed', detail: error },
      {
        type: 'hold_placed',
        hold: { key: command.event_id, amount_minor: command.hold_minor, overlimit: false },
        at_ms: now_ms,
        detail: 'assumed: the stand-in hold failed',
      },
      { type: 'authorized', stand_in: true, authorized_minor: m.amount_minor, detail: 'stand-in approved; hold not confirmed' },
      handled(),
    );
  }
  if (command.kind === 'release_hold') {
    if (result.kind === 'release_hold') {
      const events: CardEvent[] = [];
      if (result.found && command.probe)
        events.push({
          type: 'hold_placed',
          hold: command.hold,
          at_ms: now_ms,
          detail: 'found: placed by a decision attempt whose answer was lost',
        });
      if (result.found) events.push({ type: 'hold_released', hold: null, released_minor: command.hold.amount_minor, cause: 'late' });
      const detail = command.probe
        ? s.advice === 'decline'
          ? 'the network answered the stand-in before the authorization reached the payment'
          : 'no decision before the deadline (the decision step failed)'
        : 'our approval came too late: its hold is voided';
      events.push(lateDecline(detail), handled());
      return done(...events);
    }
    // The void failed: the hold stays (the expiry timer releases it), flagged for people; the
    // network was answered with the stand-in decline. A probed hold may exist: it is assumed to,
    // so that expiry releases it (a release of a hold never placed writes nothing).
    return done(
      ...(command.probe
        ? [
            {
              type: 'hold_placed',
              hold: command.hold,
              at_ms: now_ms,
              detail: 'may have been placed by a lost decision attempt',
            } as CardEvent,
          ]
        : []),
      {
        type: 'step_failed',
        key: 'authorization',
        step: 'release_hold',
        error: result.kind === 'failed' ? result.error : 'unexpected result',
        at_ms: now_ms,
      },
      lateDecline('late hold not voided yet', false),
      handled(),
    );
  }
  return unexpectedResult(command, result);
}

function decideIncrement(s: CardState, m: Of<'increment'>, step: Step, now_ms: number): CardStep {
  const key = `increment:${m.event_id}`;
  const answer = (a: DecisionAnswer): CardEvent => ({ type: 'handled', key, answer: a });
  const hold = s.hold;
  if (!step) {
    const retry = s.failing[key];
    if (retry) return { events: [{ type: 'noted', event: 'increment_retried', detail: m.event_id }], command: retry };
    if (!hold || s.status !== 'AUTHORIZED') {
      return refuse(
        'InvalidCardEvent',
        `nothing is held: an increment needs an approved, uncleared authorization; the payment is ${s.status}`,
      );
    }
    return {
      events: [],
      command: {
        kind: 'decide_hold',
        event_id: key,
        hold_minor: hold.amount_minor + m.amount_minor,
        replaces: hold,
        stand_in_approved: false,
        deadline_at_ms: m.deadline_at_ms ?? null,
      },
    };
  }
  const { command, result } = step;
  if (command.kind === 'decide_hold' && !command.stand_in_approved) {
    const replaced = command.replaces!;
    if (result.kind === 'failed') {
      const noted: CardEvent = { type: 'noted', event: 'increment_decision_failed', detail: result.error };
      if (m.stand_in === 'approve') return { events: [noted], command: { ...command, stand_in_approved: true, deadline_at_ms: null } };
      // An attempt may have resized the hold before its answer was lost: shrink it back.
      const placed: HoldRef = { key, amount_minor: command.hold_minor, overlimit: false };
      return {
        events: [noted],
        command: { kind: 'release_hold', event_id: `${key}:late`, hold: placed, keep_minor: replaced.amount_minor, probe: true },
      };
    }
    if (result.kind !== 'decide_hold') return unexpectedResult(command, result);
    const late = m.deadline_at_ms !== undefined && isLate(s, result.decided_at_ms, m.deadline_at_ms);
    if (!late) {
      if (result.approved && result.hold) {
        return done(
          { type: 'increment_approved', hold: result.hold, amount_minor: m.amount_minor, stand_in: false },
          answer({ approved: true, stand_in: false }),
        );
      }
      const reason = result.reason ?? 'card_not_found';
      return done({ type: 'noted', event: 'increment_declined', detail: reason }, answer({ approved: false, reason, stand_in: false }));
    }
    if (m.stand_in === 'approve') {
      if (result.approved && result.hold) {
        return done(
          { type: 'increment_approved', hold: result.hold, amount_minor: m.amount_minor, stand_in: true },
          { type: 'attention', reason: 'stand_in_approved', detail: `increment ${m.event_id}: late approval` },
          answer({ approved: true, stand_in: true }),
        );
      }
      return { events: [], command: { ...command, stand_in_approved: true, deadline_at_ms: null } };
    }
    if (result.approved && result.hold) {
      return {
        events: [{ type: 'increment_approved', hold: result.hold, amount_minor: 0, stand_in: false }],
        command: { kind: 'release_hold', event_id: `${key}:late`, hold: result.hold, keep_minor: replaced.amount_minor, probe: false },
      };
    }
    return done(
      { type: 'noted', event: 'increment_declined', detail: 'late_decision' },
      answer({ approved: false, reason: 'late_decision', stand_in: true }),
    );
  }
  if (command.kind === 'decide_hold') {
    if (result.kind === 'decide_hold' && result.approved && result.hold) {
      return done(
        { type: 'increment_approved', hold: result.hold, amount_minor: m.amount_minor, stand_in: true },
        {
          type: 'attention',
          reason: 'stand_in_approved',
          detail: `increment ${m.event_id}: ${result.hold.overlimit ? 'held on the over-limit receivable' : 'held on the credit line'}`,
        },
        answer({ approved: true, stand_in: true }),
      );
    }
    // The network approved the increment; whether an attempt resized the hold is unknown: the next
    // delivery runs the same decision again, which answers from the hold an attempt placed.
    return stepFailed(key, command, result.kind === 'failed' ? result.error : 'stand-in hold not placed', now_ms, true);
  }
  if (command.kind === 'release_hold') {
    const declined = answer({ approved: false, reason: 'late_decision', stand_in: true });
    if (result.kind === 'release_hold') {
      if (!result.found) return done({ type: 'noted', event: 'increment_declined', detail: 'no decision in time' }, declined);
      return done(
        {
          type: 'hold_released',
          hold: holdAfterRelease(s, command, result.hold),
          released_minor: command.hold.amount_minor - command.keep_minor,
          cause: 'late',
        },
        { type: 'noted', event: 'increment_declined', detail: 'late: resized back' },
        declined,
      );
    }
    // Whether an attempt resized the hold is unknown: the next delivery of the increment finds
    // out (its decision answers from the hold an attempt placed).
    // Whether the resize happened (probe) or the shrink back did is unknown: the next delivery
    // of the increment runs the same release again (same transfer ids).
    return stepFailed(key, command, result.kind === 'failed' ? result.error : 'unexpected result', now_ms, true);
  }
  return unexpectedResult(command, result);
}

function decideReversal(s: CardState, m: Of<'reversal'>, step: Step, now_ms: number): CardStep {
  const key = `reversal:${m.event_id}`;
  if (!step) {
    if (!s.authorization && !s.decision) return refuse('InvalidCardEvent', 'a reversal needs an authorization to reverse');
    const retry = s.failing[key];
    if (retry) return { events: [{ type: 'noted', event: 'reversal_retried', detail: m.event_id }], command: retry };
    if (!s.hold) return done({ type: 'noted', event: 'reversal_ignored', detail: 'nothing is held' }, { type: 'handled', key });
    const released = Math.min(m.amount_minor ?? s.hold.amount_minor, s.hold.amount_minor);
    return {
      events: [],
      command: { kind: 'release_hold', event_id: key, hold: s.hold, keep_minor: s.hold.amount_minor - released, probe: false },
    };
  }
  const { command, result } = step;
  if (command.kind !== 'release_hold') return unexpectedResult(command, result);
  if (result.kind !== 'release_hold')
    return stepFailed(key, command, result.kind === 'failed' ? result.error : 'unexpected result', now_ms, true);
  return done(
    {
      type: 'hold_released',
      hold: holdAfterRelease(s, command, result.hold),
      released_minor: command.hold.amount_minor - command.keep_minor,
      cause: 'reversal',
    },
    { type: 'handled', key },
  );
}

function decidePosting(s: CardState, m: Of<'clearing'> | Of<'refund'>, input: CardInput, now_ms: number): CardStep {
  const key = `${m.kind}:${m.event_id}`;
  const step = input.step;
  if (!step) {
    const retry = s.failing[key];
    if (retry) return { events: [{ type: 'noted', event: `${m.kind}_retried`, detail: m.event_id }], command: retry };
    if (m.kind === 'refund' && s.posted_minor > 0 && s.refunded_minor + m.amount_minor > s.posted_minor) {
      return refuse(
        'InvalidCardEvent',
        `refund of ${m.amount_minor} exceeds what is left to refund (${s.posted_minor - s.refunded_minor})`,
      );
    }
    if (s.card === 'unknown') return { events: [], command: { kind: 'resolve_card' } };
    return {
      events: [],
      command:
        m.kind === 'clearing'
          ? { kind: 'clear', event_id: key, hold: s.hold, amount_minor: m.amount_minor, final: m.final }
          : { kind: 'refund', event_id: key, amount_minor: m.amount_minor },
    };
  }
  const { command, result } = step;
  if (result.kind === 'failed') return stepFailed(key, command, result.error, now_ms, command.kind !== 'resolve_card');
  if (command.kind === 'resolve_card' && result.kind === 'resolve_card') {
    const events: CardEvent[] = [{ type: 'card_resolved', card: result.card }];
    if (!result.card)
      events.push({ type: 'attention', reason: 'unknown_card', detail: 'the card is not known: booked on the over-limit receivable' });
    return andThen(s, events, { message: m }, now_ms);
  }
  if (command.kind === 'clear' && result.kind === 'clear' && m.kind === 'clearing') {
    const from_hold_minor = result.from_hold_minor;
    const events: CardEvent[] = [
      {
        type: 'posted',
        amount_minor: command.amount_minor,
        from_hold_minor,
        hold: holdAfterRelease(s, command, result.hold),
        at_ms: now_ms,
      },
    ];
    if (from_hold_minor === 0) events.push({ type: 'noted', event: 'force_posted', detail: `${command.amount_minor}, nothing held` });
    else
      events.push({
        type: 'noted',
        event: 'clearing_posted',
        detail: `${command.amount_minor} of ${command.hold!.amount_minor} held${command.final ? ', final' : ''}`,
      });
    const posted = s.posted_minor + command.amount_minor;
    if (s.authorized_minor > 0 && posted > clearingCeilingMinor(s.authorized_minor, s.mcc)) {
      events.push({
        type: 'attention',
        reason: 'clearing_over_tolerance',
        detail: `cleared ${posted} against ${s.authorized_minor} authorized`,
      });
    }
    if (result.overlimit_minor > 0)
      events.push({
        type: 'attention',
        reason: 'charged_over_limit',
        detail: `${result.overlimit_minor} booked on the over-limit receivable`,
      });
    events.push({ type: 'handled', key });
    return done(...events);
  }
  if (command.kind === 'refund' && result.kind === 'refund') {
    const events: CardEvent[] = [{ type: 'refunded', amount_minor: command.amount_minor }];
    if (s.posted_minor === 0) events.push({ type: 'noted', event: 'refund_unlinked', detail: 'no clearing on this payment to refund' });
    events.push({ type: 'handled', key });
    return done(...events);
  }
  return unexpectedResult(command, result);
}

/** Releases the hold of an authorization decided in a workflow task that was lost, if any. */
const lostAttemptProbe: CardCommand = {
  kind: 'release_hold',
  event_id: 'authorization:stand_in_advice',
  hold: { key: 'authorization', amount_minor: 0, overlimit: false },
  keep_minor: 0,
  probe: true,
};

function decideAdvice(s: CardState, m: Of<'advice'>, input: CardInput, now_ms: number): CardStep {
  const key = 'stand_in_advice';
  const step = input.step;
  const received: CardEvent = { type: 'advice_received', stand_in: m.stand_in };
  const declined = (detail: string, final = true): CardEvent => ({
    type: 'declined',
    reason: 'late_decision',
    stand_in: true,
    network_stood_in: true,
    detail,
    final,
  });
  if (!step) {
    if (m.stand_in === 'approve') {
      if (s.decision && !s.decision.approved) {
        return done(
          received,
          { type: 'attention', reason: 'stand_in_approved_advice', detail: 'the network approved by stand-in a payment we declined' },
          { type: 'handled', key },
        );
      }
      return done(received, { type: 'handled', key });
    }
    if (!s.decision && !s.authorization) {
      // The authorization has not reached the payment (it may come later, and is then declined).
      if (s.card === 'unknown') return { events: [], command: { kind: 'resolve_card' } };
      // A decision attempt whose workflow task was lost may have held (its amount is the ledger's).
      return { events: [], command: lostAttemptProbe };
    }
    if (s.decision?.approved && !s.decision.stand_in && s.posted_minor === 0 && s.hold) {
      // Approved in time by our clock, but the answer reached the network after its deadline.
      return {
        events: [received],
        command: { kind: 'release_hold', event_id: 'authorization:stand_in_advice', hold: s.hold, keep_minor: 0, probe: false },
      };
    }
    if (s.decision?.approved && s.posted_minor > 0) {
      return done(
        received,
        { type: 'attention', reason: 'stand_in_declined_advice', detail: 'the network says it declined a payment that has cleared' },
        { type: 'handled', key },
      );
    }
    return done(received, { type: 'handled', key });
  }
  const { command, result } = step;
  if (command.kind === 'resolve_card' && result.kind === 'resolve_card') {
    return andThen(s, [{ type: 'card_resolved', card: result.card }], { message: m }, now_ms);
  }
  if (command.kind === 'resolve_card') return { events: [], command: lostAttemptProbe };
  if (command.kind === 'release_hold' && command.probe) {
    // Before the authorization: whatever a lost attempt held is released; the authorization, when
    // it comes, is declined (and probes again).
    if (result.kind !== 'release_hold') {
      return done(
        received,
        {
          type: 'step_failed',
          key,
          step: 'release_hold',
          error: result.kind === 'failed' ? result.error : 'unexpected result',
          at_ms: now_ms,
        },
        declined('advice: the authorization did not reach the payment in time'),
        { type: 'handled', key },
      );
    }
    return done(
      received,
      ...(result.found
        ? ([{ type: 'noted', event: 'lost_attempt_hold_released', detail: String(result.released_minor) }] as CardEvent[])
        : []),
      declined('advice: the authorization did not reach the payment in time'),
      { type: 'handled', key },
    );
  }
  if (command.kind === 'release_hold' && result.kind === 'release_hold') {
    return done(
      { type: 'hold_released', hold: null, released_minor: command.hold.amount_minor, cause: 'advice' },
      declined('advice: our approval reached the network after its deadline'),
      { type: 'handled', key },
    );
  }
  if (command.kind === 'release_hold') {
    // The network declined and the hold is still there: flagged; a repeated advice, an ops void
    // or expiry releases it.
    return {
      ...stepFailed(key, command, result.kind === 'failed' ? result.error : 'unexpected result', now_ms),
      events: [
        {
          type: 'step_failed',
          key,
          step: 'release_hold',
          error: result.kind === 'failed' ? result.error : 'unexpected result',
          at_ms: now_ms,
        },
        declined('advice: void failed', false),
      ],
    };
  }
  return unexpectedResult(command, result);
}

function decideRelease(s: CardState, m: Of<'expiry'> | Of<'void_hold'>, step: Step, now_ms: number): CardStep {
  const cause: ReleaseCause = m.kind === 'expiry' ? 'expiry' : 'ops';
  if (!step) {
    if (!s.hold) return m.kind === 'expiry' ? done() : refuse('OpsRefused', `the payment holds nothing any more (it is ${s.status})`);
    return {
      events: [],
      command: {
        kind: 'release_hold',
        event_id: m.kind === 'expiry' ? 'expiry' : 'ops:void_hold',
        hold: s.hold,
        keep_minor: 0,
        probe: false,
      },
    };
  }
  const { command, result } = step;
  if (command.kind !== 'release_hold') return unexpectedResult(command, result);
  if (result.kind !== 'release_hold')
    return stepFailed(m.kind, command, result.kind === 'failed' ? result.error : 'unexpected result', now_ms);
  const events: CardEvent[] = [{ type: 'hold_released', hold: null, released_minor: command.hold.amount_minor, cause }];
  // A decline whose void failed ends here, once what it held is released.
  if (s.decision && !s.decision.approved && s.status !== 'DECLINED' && s.posted_minor === 0) {
    events.push({
      type: 'declined',
      reason: s.decision.reason ?? 'late_decision',
      stand_in: s.decision.stand_in,
      network_stood_in: s.decision.stand_in && s.advice === 'decline',
      detail: `held amount released (${cause})`,
      final: true,
    });
  }
  return done(...events);
}

/** The payment's hold after a release: what the release left, or, for a release retried after the
 * payment moved on (its hold is another one now), the current hold unless the retry found the
 * hold its first attempt kept. */
function holdAfterRelease(s: CardState, command: { hold: HoldRef | null }, left: HoldRef | null): HoldRef | null {
  if (s.hold === null || s.hold.key === command.hold?.key) return left;
  return left ?? s.hold;
}

/** A result that does not answer the command: a bug in the interpreter. Recorded, never thrown. */
function unexpectedResult(command: CardCommand, result: CardStepResult): CardStep {
  return {
    events: [{ type: 'attention', reason: 'unexpected_step_result', detail: `${command.kind} answered ${result.kind}` }],
    command: null,
    failed: `${command.kind} answered ${result.kind}`,
  };
}
