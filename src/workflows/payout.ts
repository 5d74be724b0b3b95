// The payout saga: authorize (hold) -> post -> settle through the payee's bank. A permanent bank
// rejection compensates: reverse the posting, release the hold. The company is never charged for
// money that did not leave.
//
// A bank that confirms by callback answers the send with `accepted`; the workflow then waits for
// settlementConfirmedSignal (the first one counts, repeats are ignored) and settles or compensates
// on it exactly as on a synchronous answer.
//
// Saga rules (DESIGN.md section 5): each compensation is registered before its step runs, so a
// step whose reply was lost is still undone; compensations run in reverse order, in a
// non-cancellable scope, retrying until they succeed.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { formatMinor } from '../domain/money.js';
import {
  BUSINESS_FAILURE_TYPES,
  DEFAULT_PAYOUT_OPTIONS,
  PATCH_SETTLEMENT_ATTENTION,
  PATCH_SETTLEMENT_CALLBACK,
  parsePayoutRequestOrFail,
  settlementConfirmationSchema,
  type SettlementConfirmation,
  type PayoutWorkflowOptions,
  type PaymentState,
  type PayoutRequest,
} from '../domain/payment.js';
import { opsRefused, parseOpsAction, validateResolveAttention, withCurrentDetails } from './details.js';
import { getPaymentQuery, resolveAttentionUpdate, retrySettlementUpdate, settlementConfirmedSignal } from './messages.js';
import { createPaymentRecorder } from './payment-state.js';

/** Ledger and gateway calls: retried on infrastructure errors without limit (money steps must
 * finish), with a ceiling on the backoff so recovery is noticed within a minute. */
const STEP_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const steps = proxyActivities<Activities>(STEP_OPTIONS);

/** Compensations use the same activities; kept as a separate proxy so their policy can diverge. */
const COMPENSATION_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const compensations = proxyActivities<Activities>(COMPENSATION_OPTIONS);

/** Each call carries a summary for the Web UI (user metadata on the command: replay does not
 * compare it, so histories recorded without summaries still replay). */
const step = (summary: string): ActivityOptions => ({ ...STEP_OPTIONS, summary });
const compensation = (summary: string): ActivityOptions => ({ ...COMPENSATION_OPTIONS, summary });

type SendAnswer = Awaited<ReturnType<Activities['sendPayout']>>;

/** A compensation that keeps failing is retried this often before the workflow fails; with the
 * pause capped at an hour that is about 40 days, long enough for people to step in. */
const COMPENSATION_ATTEMPTS_MAX = 1000;
const COMPENSATION_PAUSE_MS_MIN = 1_000;
const COMPENSATION_PAUSE_MS_MAX = 3_600_000;

function businessFailure(err: unknown, type: string): ApplicationFailure | null {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === type) {
    return err.cause;
  }
  return null;
}

export async function payoutWorkflow(input: PayoutRequest, options: PayoutWorkflowOptions = DEFAULT_PAYOUT_OPTIONS): Promise<PaymentState> {
  // Refuse a malformed payment before any step runs: nothing to write, nothing to compensate.
  const request = parsePayoutRequestOrFail(input);
  if (!(Number.isSafeInteger(options.settlement_attention_after_ms) && options.settlement_attention_after_ms > 0)) {
    throw ApplicationFailure.nonRetryable(
      `settlement_attention_after_ms must be a positive integer, got ${options.settlement_attention_after_ms}`,
      'InvalidPayoutOptions',
    );
  }
  const state: PaymentState = {
    payment_id: request.payment_id,
    kind: 'payout',
    company_id: request.company_id,
    status: 'AUTHORIZING',
    currency: request.currency,
    amount_minor: request.amount_minor,
    authorized_minor: 0,
    held_minor: 0,
    posted_minor: 0,
    reversed_minor: 0,
    refunded_minor: 0,
    settled_minor: 0,
    needs_attention: false,
    timeline: [],
  };
  setHandler(getPaymentQuery, () => state);
  const money = (amount_minor: number) => formatMinor(amount_minor, request.currency);
  // The bank's confirmation of an accepted payout. It may come before the send's answer reaches the
  // workflow, more than once (banks repeat callbacks), or malformed: keep the first valid one.
  let confirmation: SettlementConfirmation | undefined;
  setHandler(settlementConfirmedSignal, (input) => {
    const parsed = settlementConfirmationSchema.safeParse(input);
    if (!parsed.success) {
      log.warn('settlement confirmation ignored: malformed', { payment_id: request.payment_id });
    } else if (confirmation) {
      log.info('settlement confirmation ignored: already confirmed', { payment_id: request.payment_id, status: parsed.data.status });
    } else {
      confirmation = parsed.data;
    }
  });

  const recorder = withCurrentDetails(createPaymentRecorder(state), state);
  const { transition, note, markNeedsAttention, waitFor } = recorder;
  waitFor(`the ledger: a hold of ${money(request.amount_minor)} on ${request.company_id}'s credit line`);
  transition('AUTHORIZING', 'payout_requested');

  // Ops: people clear the attention flag once they have looked (the timeline keeps why it was
  // raised), or have a payout whose bank went silent sent again. Registering handlers adds no
  // command; only a payout that receives one records new events.
  setHandler(
    resolveAttentionUpdate,
    (raw) => {
      recorder.resolveAttention(parseOpsAction(raw));
      return state;
    },
    { validator: (raw) => validateResolveAttention(state, raw) },
  );
  /** Raised when the settlement-attention timer fired in this wait for the bank. */
  let settlementOverdue = false;
  let retrying = false;
  /** The bank has answered for good: at once, or (after `accepted`) by its confirmation. */
  let bankAnswered = false;
  /** A re-send's answer, raced with the first send's while that one is still being retried. */
  let resendAnswered: (answer: SendAnswer) => void = () => undefined;
  let resendFailed: (err: unknown) => void = () => undefined;
  const resent = new Promise<SendAnswer>((resolve, reject) => {
    resendAnswered = resolve;
    resendFailed = reject;
  });
  resent.catch(() => undefined); // awaited only in a race; never an unhandled rejection
  setHandler(
    retrySettlementUpdate,
    async (raw) => {
      const by = parseOpsAction(raw);
      retrying = true;
      recorder.ops('retrySettlement', by, `payout sent again to the bank with idempotency key payout:${request.payment_id}`);
      try {
        const answer = await steps.sendPayout.executeWithOptions(
          step(`ops retry by ${by.operator}: send ${money(request.amount_minor)} again (same idempotency key)`),
          [request],
        );
        if ('accepted' in answer) {
          note('ops_retry_answered', 'accepted: waiting for the bank confirmation');
        } else {
          note('ops_retry_answered', `settled: ${answer.bank_reference}`);
          confirmation ??= { status: 'settled', bank_reference: answer.bank_reference };
        }
        resendAnswered(answer);
      } catch (err) {
        const rejected = businessFailure(err, BUSINESS_FAILURE_TYPES.settlementRejected);
        if (!rejected) throw err;
        const reason = String(rejected.details?.[0] ?? rejected.message);
        note('ops_retry_answered', `rejected: ${reason}`);
        confirmation ??= { status: 'rejected', reason };
        resendFailed(err);
      } finally {
        retrying = false;
      }
      return state;
    },
    {
      validator: (raw) => {
        parseOpsAction(raw);
        if (state.status !== 'SETTLING' || bankAnswered || confirmation) {
          throw opsRefused(`retrySettlement needs a payout waiting for its bank; payment ${state.payment_id} is ${state.status}`);
        }
        if (!settlementOverdue) {
          throw opsRefused(
            `retrySettlement needs a payout flagged settlement_waiting (no answer from the bank after ` +
              `${options.settlement_attention_after_ms} ms); payment ${state.payment_id} has waited less`,
          );
        }
        if (retrying) throw opsRefused(`a retry of payment ${state.payment_id} is already waiting for the bank`);
      },
    },
  );

  // Undo steps, most recent first.
  const undo: Array<{ name: string; run: () => Promise<void> }> = [];
  // Compensations never give up: infrastructure errors are retried inside the activity; a failure
  // that the activity will not retry (a ledger answer the saga did not expect, a bug) marks the
  // payment as needing attention and is tried again with a growing pause, so that a fix by an
  // operator or a deployment lets it finish.
  const runCompensations = () =>
    CancellationScope.nonCancellable(async () => {
      for (const step of undo) {
        for (let attempt = 1; ; attempt += 1) {
          try {
            await step.run();
            break;
          } catch (err) {
            if (attempt >= COMPENSATION_ATTEMPTS_MAX) throw err;
            if (attempt === 1) markNeedsAttention(`compensation_failed_${step.name}`, String((err as Error).cause ?? err));
            const pause_ms = Math.min(COMPENSATION_PAUSE_MS_MIN * 2 ** (attempt - 1), COMPENSATION_PAUSE_MS_MAX);
            waitFor(`a retry of the ${step.name} compensation in ${pause_ms} ms (attempt ${attempt + 1}): it keeps failing`);
            await sleep(pause_ms, { summary: `pause before compensation ${step.name} attempt ${attempt + 1}` });
          }
        }
        note(`compensated_${step.name}`);
      }
    });

  undo.unshift({
    name: 'hold',
    run: async () => {
      waitFor('the ledger: release of the hold (compensation)');
      const { released } = await compensations.releaseHold.executeWithOptions(compensation(`compensate: release the hold`), [request]);
      if (released) state.held_minor = 0;
    },
  });
  try {
    await steps.placeHold.executeWithOptions(step(`hold ${money(request.amount_minor)} on ${request.company_id}'s credit line`), [request]);
  } catch (err) {
    const declined = businessFailure(err, BUSINESS_FAILURE_TYPES.holdDeclined);
    if (!declined) {
      await runCompensations();
      throw err;
    }
    // The ledger refused the hold and records the refusal under its id, so it can never land
    // later: there is nothing to undo.
    undo.shift();
    state.decline_reason = String(declined.details?.[0] ?? declined.message);
    waitFor(null);
    transition('DECLINED', 'hold_declined', state.decline_reason);
    return state;
  }
  state.held_minor = request.amount_minor;
  state.authorized_minor = request.amount_minor;
  waitFor('the ledger: posting the hold');
  transition('AUTHORIZED', 'hold_placed');

  try {
    undo.unshift({
      name: 'posting',
      run: async () => {
        waitFor('the ledger: reversal of the posting (compensation)');
        const { reversed_minor } = await compensations.reversePosting.executeWithOptions(compensation(`compensate: reverse the posting`), [
          request,
        ]);
        state.reversed_minor = reversed_minor;
      },
    });
    await steps.postHold.executeWithOptions(step(`post the hold: charge ${request.company_id} ${money(request.amount_minor)}`), [request]);
    state.held_minor = 0;
    state.posted_minor = request.amount_minor;
    transition('POSTED', 'hold_posted');

    waitFor(`the payee's bank: its answer to the payout of ${money(request.amount_minor)}`);
    transition('SETTLING', 'payout_sent');
    const sending = steps.sendPayout
      .executeWithOptions(step(`send ${money(request.amount_minor)} to the payee's bank (key payout:${request.payment_id})`), [request])
      .then(
        (answer) => {
          if (!('accepted' in answer)) bankAnswered = true;
          return answer;
        },
        (err: unknown) => {
          bankAnswered = true;
          throw err;
        },
      );
    // A payout whose bank has not answered for a while is flagged for ops (the send keeps being
    // retried). Added after the first histories were recorded: payments started before keep
    // replaying without the timer.
    if (patched(PATCH_SETTLEMENT_ATTENTION)) {
      void (async () => {
        const answered = await condition(() => bankAnswered, options.settlement_attention_after_ms, {
          summary: `settlement attention: flag the payout if the bank has not answered within ${options.settlement_attention_after_ms} ms`,
        });
        if (!answered) {
          settlementOverdue = true;
          markNeedsAttention('settlement_waiting', `no answer from the bank after ${options.settlement_attention_after_ms} ms`);
        }
      })();
    }
    // An ops retry's answer counts as much as the first send's (the bank pays once per key).
    const answer = await Promise.race([sending, resent]);
    let bank_reference: string;
    if ('accepted' in answer) {
      // Waiting for the callback moves the attention timer's cancellation (and every later command)
      // from the send's answer to the confirmation. Histories recorded before this patch never hold
      // an `accepted` answer (banks answered at once), so their replay never reaches this point; the
      // marker records the new behaviour for payments that do.
      patched(PATCH_SETTLEMENT_CALLBACK);
      waitFor(`the payee's bank: its confirmation callback (settled or rejected)`);
      note('payout_accepted');
      await condition(() => confirmation !== undefined);
      bankAnswered = true;
      const confirmed = confirmation!;
      if (confirmed.status === 'rejected') {
        throw ApplicationFailure.create({
          message: `settlement rejected: ${confirmed.reason}`,
          type: BUSINESS_FAILURE_TYPES.settlementRejected,
          nonRetryable: true,
          details: [confirmed.reason],
        });
      }
      bank_reference = confirmed.bank_reference;
    } else {
      bank_reference = answer.bank_reference;
    }
    bankAnswered = true;
    waitFor('the ledger: booking the settlement');
    await steps.recordSettlement.executeWithOptions(step(`book the settlement of ${money(request.amount_minor)} (${bank_reference})`), [
      request,
    ]);
    state.bank_reference = bank_reference;
    state.settled_minor = request.amount_minor;
    waitFor(null);
    transition('SETTLED', 'payout_settled', bank_reference);
    await condition(allHandlersFinished);
    return state;
  } catch (err) {
    const rejected =
      businessFailure(err, BUSINESS_FAILURE_TYPES.settlementRejected) ??
      // The bank's rejection by callback (thrown above).
      (err instanceof ApplicationFailure && err.type === BUSINESS_FAILURE_TYPES.settlementRejected ? err : null);
    state.compensation_reason = rejected ? String(rejected.details?.[0] ?? rejected.message) : 'step_failed';
    transition('COMPENSATING', rejected ? 'settlement_rejected' : 'step_failed', state.compensation_reason);
    await runCompensations();
    waitFor(null);
    if (!rejected) throw err;
    transition('COMPENSATED', 'compensation_finished');
    await condition(allHandlersFinished);
    return state;
  }
}
