// The payout saga: authorize (hold) -> post -> settle through the payee's bank. A permanent bank
// rejection compensates: reverse the posting, release the hold. The company is never charged for
// money that did not leave.
//
// A bank that confirms by callback answers the send with `accepted`; the workflow then waits for
// settlementConfirmedSignal (the first one counts, repeats are ignored) and settles or compensates
// on it exactly as on a synchronous answer.
//
// Only the bank's final rejection compensates (a 422 saying `rejected`, a `rejected` callback, an
// ops re-send rejected). The first final answer counts, whichever source gives it: the send, the
// confirmation callback (even while the send is still being retried: the send is then cancelled),
// an ops re-send. A send the bank refuses for our credentials (401/403) or answers in a way the
// gateway cannot read is flagged NeedsAttention and sent again after a pause; transient answers
// are retried inside the activity. Once the bank has paid nothing compensates: a failing booking
// of the settlement is flagged and retried (ops can book it at once with retrySettlement), and
// the posting stays.
//
// Saga rules (DESIGN.md section 5, src/workflows/saga.ts): each compensation is registered before
// its step runs, so a step whose reply was lost is still undone; compensations run in reverse
// order, in a non-cancellable scope, retrying until they succeed.
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
import { PATCH_PAYOUT_FIRST_FINAL_ANSWER, PATCH_PAYOUT_PAID_NEVER_COMPENSATED, SETTLEMENT_FAILURE_TYPES } from '../domain/payout.js';
import { opsRefused, parseOpsAction, validateResolveAttention, withCurrentDetails } from './details.js';
import { getPaymentQuery, resolveAttentionUpdate, retrySettlementUpdate, settlementConfirmedSignal } from './messages.js';
import { createPaymentRecorder } from './payment-state.js';
import { createSaga, retryUntilDone, type RetryPolicy } from './saga.js';

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

/** Booking the settlement: infrastructure errors are retried here a bounded number of times
 * (about 100 s), then the workflow flags the payout and keeps retrying with a growing pause: money
 * the bank has paid is booked, never compensated. */
const BOOKING_OPTIONS: ActivityOptions = {
  ...STEP_OPTIONS,
  retry: { ...STEP_OPTIONS.retry, maximumAttempts: 10 },
};

/** Each call carries a summary for the Web UI (user metadata on the command: replay does not
 * compare it, so histories recorded without summaries still replay). */
const step = (summary: string): ActivityOptions => ({ ...STEP_OPTIONS, summary });
const compensation = (summary: string): ActivityOptions => ({ ...COMPENSATION_OPTIONS, summary });
const bookingStep = (summary: string): ActivityOptions => ({ ...BOOKING_OPTIONS, summary });

type SendAnswer = Awaited<ReturnType<Activities['sendPayout']>>;

/** A step that must finish (a compensation, the booking of a paid payout, a send the bank refused
 * for our credentials) and keeps failing is retried this often before the workflow fails; with the
 * pause capped at an hour that is about 40 days, long enough for people to step in, and under 10
 * history events per attempt. */
const MUST_FINISH_RETRY: RetryPolicy = { attempts_max: 1000, pause_ms_min: 1_000, pause_ms_max: 3_600_000 };

/** Why a send failed, when it is a failure the workflow retries and flags (null: any other). */
function sendFailureEvent(err: unknown): 'settlement_credentials_refused' | 'settlement_unexpected_answer' | null {
  if (!(err instanceof ActivityFailure && err.cause instanceof ApplicationFailure)) return null;
  if (err.cause.type === SETTLEMENT_FAILURE_TYPES.credentialsRefused) return 'settlement_credentials_refused';
  if (err.cause.type === SETTLEMENT_FAILURE_TYPES.unexpectedAnswer) return 'settlement_unexpected_answer';
  return null;
}

/** The message of an activity's failure, for the timeline. */
const failureMessage = (err: unknown): string => String((err as Error).cause ?? err);

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
  /** Raised when a send was refused for our credentials or answered unexpectedly. */
  let sendFlagged = false;
  /** The bank has paid; its settlement is being booked. */
  let booking = false;
  /** Raised when booking the settlement failed: ops may book it at once. */
  let bookingFlagged = false;
  /** Set by an ops retry that booked the settlement (the workflow's own retry then stops). */
  let booked = false;
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
  const bookSettlement = (summary: string) =>
    steps.recordSettlement.executeWithOptions(bookingStep(summary), [request]).then(() => undefined);

  // Ops: a payout waiting for its bank (flagged settlement_waiting, or for a credential problem or
  // an unexpected answer) is sent again now with the same key; a paid payout whose booking keeps
  // failing is booked now. A step that fails inside the handler is recorded in the timeline and
  // flagged; the payout goes on and later messages are accepted.
  setHandler(
    retrySettlementUpdate,
    async (raw) => {
      const by = parseOpsAction(raw);
      retrying = true;
      try {
        if (booking) {
          recorder.ops('retrySettlement', by, `settlement of ${money(request.amount_minor)} booked again (the bank has paid)`);
          await bookSettlement(`ops retry by ${by.operator}: book the settlement of ${money(request.amount_minor)}`);
          booked = true;
          note('ops_retry_answered', 'booked');
          return state;
        }
        recorder.ops('retrySettlement', by, `payout sent again to the bank with idempotency key payout:${request.payment_id}`);
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
        if (rejected) {
          const reason = String(rejected.details?.[0] ?? rejected.message);
          note('ops_retry_answered', `rejected: ${reason}`);
          confirmation ??= { status: 'rejected', reason };
          resendFailed(err);
        } else {
          markNeedsAttention('ops_retry_failed', failureMessage(err));
        }
      } finally {
        retrying = false;
      }
      return state;
    },
    {
      validator: (raw) => {
        parseOpsAction(raw);
        if (retrying) throw opsRefused(`a retry of payment ${state.payment_id} is already waiting for an answer`);
        if (booking) {
          if (!bookingFlagged || booked) {
            throw opsRefused(
              `retrySettlement of a paid payout needs its booking flagged settlement_booking_failed; payment ${state.payment_id} is booking it`,
            );
          }
          return;
        }
        if (state.status !== 'SETTLING' || bankAnswered || confirmation) {
          throw opsRefused(`retrySettlement needs a payout waiting for its bank; payment ${state.payment_id} is ${state.status}`);
        }
        if (!settlementOverdue && !sendFlagged) {
          throw opsRefused(
            `retrySettlement needs a payout flagged settlement_waiting (no answer from the bank after ` +
              `${options.settlement_attention_after_ms} ms) or for a refused send; payment ${state.payment_id} has waited less`,
          );
        }
      },
    },
  );

  // Compensations never give up: infrastructure errors are retried inside the activity; a failure
  // that the activity will not retry (a ledger answer the saga did not expect, a bug) marks the
  // payment as needing attention and is tried again with a growing pause, so that a fix by an
  // operator or a deployment lets it finish.
  const saga = createSaga(MUST_FINISH_RETRY, {
    failed: (name, attempt, err, pause_ms) => {
      if (attempt === 1) markNeedsAttention(`compensation_failed_${name}`, failureMessage(err));
      waitFor(`a retry of the ${name} compensation in ${pause_ms} ms (attempt ${attempt + 1}): it keeps failing`);
    },
    pause: (name, pause_ms, next_attempt) => sleep(pause_ms, { summary: `pause before compensation ${name} attempt ${next_attempt}` }),
    compensated: (name) => note(`compensated_${name}`),
    shielded: (fn) => CancellationScope.nonCancellable(fn),
  });

  saga.register('hold', async () => {
    waitFor('the ledger: release of the hold (compensation)');
    const { released } = await compensations.releaseHold.executeWithOptions(compensation(`compensate: release the hold`), [request]);
    if (released) state.held_minor = 0;
  });
  try {
    await steps.placeHold.executeWithOptions(step(`hold ${money(request.amount_minor)} on ${request.company_id}'s credit line`), [request]);
  } catch (err) {
    const declined = businessFailure(err, BUSINESS_FAILURE_TYPES.holdDeclined);
    if (!declined) {
      await saga.compensate();
      throw err;
    }
    // The ledger refused the hold and records the refusal under its id, so it can never land
    // later: there is nothing to undo.
    saga.forget('hold');
    state.decline_reason = String(declined.details?.[0] ?? declined.message);
    waitFor(null);
    transition('DECLINED', 'hold_declined', state.decline_reason);
    return state;
  }
  state.held_minor = request.amount_minor;
  state.authorized_minor = request.amount_minor;
  waitFor('the ledger: posting the hold');
  transition('AUTHORIZED', 'hold_placed');

  /** The bank has paid: from here on nothing compensates. */
  let paid = false;
  try {
    saga.register('posting', async () => {
      waitFor('the ledger: reversal of the posting (compensation)');
      const { reversed_minor } = await compensations.reversePosting.executeWithOptions(compensation(`compensate: reverse the posting`), [
        request,
      ]);
      state.reversed_minor = reversed_minor;
    });
    await steps.postHold.executeWithOptions(step(`post the hold: charge ${request.company_id} ${money(request.amount_minor)}`), [request]);
    state.held_minor = 0;
    state.posted_minor = request.amount_minor;
    transition('POSTED', 'hold_posted');

    waitFor(`the payee's bank: its answer to the payout of ${money(request.amount_minor)}`);
    transition('SETTLING', 'payout_sent');
    // Payouts that reached this point before the patch keep waiting for the send's answer (or an
    // ops re-send's) before they look at a confirmation, as their histories did.
    const firstFinalAnswer = patched(PATCH_PAYOUT_FIRST_FINAL_ANSWER);
    // The send, sent again after a pause while the bank refuses our credentials or answers in a way
    // the gateway cannot read (both flagged); cancelled when a final answer comes from elsewhere.
    const sendScope = new CancellationScope();
    let lastSendFailure: string | null = null;
    /** The send's answer once it came (the race below may be won by a confirmation at the same time). */
    let sendAnswer: SendAnswer | undefined;
    const sending = sendScope
      .run(() =>
        retryUntilDone(
          (attempt) =>
            steps.sendPayout.executeWithOptions(
              step(
                attempt === 1
                  ? `send ${money(request.amount_minor)} to the payee's bank (key payout:${request.payment_id})`
                  : `send ${money(request.amount_minor)} again, attempt ${attempt} (key payout:${request.payment_id})`,
              ),
              [request],
            ),
          MUST_FINISH_RETRY,
          {
            retryable: (err) => sendFailureEvent(err) !== null,
            failed: (attempt, err, pause_ms) => {
              const event = sendFailureEvent(err)!;
              if (event !== lastSendFailure) {
                markNeedsAttention(event, failureMessage(err));
                lastSendFailure = event;
              }
              sendFlagged = true;
              waitFor(`the payee's bank: the payout is sent again in ${pause_ms} ms (attempt ${attempt + 1}); ${event}`);
            },
            pause: (pause_ms, next_attempt) =>
              sleep(pause_ms, { summary: `pause before sending the payout again, attempt ${next_attempt}` }),
          },
        ),
      )
      .then(
        (answer) => {
          if (!('accepted' in answer)) bankAnswered = true;
          sendAnswer = answer;
          return answer;
        },
        (err: unknown) => {
          bankAnswered = true;
          throw err;
        },
      );
    sending.catch(() => undefined); // awaited in a race below; a cancelled send is nobody's error
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
    // An ops retry's answer counts as much as the first send's (the bank pays once per key), and so
    // does a confirmation that arrives while the send is still being retried.
    const confirmedEarly = firstFinalAnswer ? condition(() => confirmation !== undefined).then(() => 'confirmed' as const) : null;
    const winner = await Promise.race([sending, resent, ...(confirmedEarly ? [confirmedEarly] : [])]);
    // A confirmation that came with the send's `accepted` (in the same workflow task) is the
    // ordinary callback path; one that came alone ended a send still being retried.
    const answer = winner === 'confirmed' && sendAnswer && 'accepted' in sendAnswer ? sendAnswer : winner;
    // The send may still be pausing or retrying when the answer came from elsewhere (a confirmation,
    // an ops re-send): stop it. Nothing to stop when the send itself answered.
    if (firstFinalAnswer) sendScope.cancel();
    let bank_reference: string;
    if (answer === 'confirmed' || 'accepted' in answer) {
      if (answer !== 'confirmed') {
        // Waiting for the callback moves the attention timer's cancellation (and every later
        // command) from the send's answer to the confirmation. Histories recorded before this patch
        // never hold an `accepted` answer (banks answered at once), so their replay never reaches
        // this point; the marker records the new behaviour for payments that do.
        patched(PATCH_SETTLEMENT_CALLBACK);
        waitFor(`the payee's bank: its confirmation callback (settled or rejected)`);
        note('payout_accepted');
        await condition(() => confirmation !== undefined);
      }
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
    paid = true;
    booking = true;
    waitFor('the ledger: booking the settlement');
    try {
      await bookSettlement(`book the settlement of ${money(request.amount_minor)} (${bank_reference})`);
    } catch (err) {
      // Payouts whose booking failed before the patch compensated (their histories say so).
      if (!patched(PATCH_PAYOUT_PAID_NEVER_COMPENSATED)) throw err;
      await bookUntilDone(err, bank_reference);
    }
    booking = false;
    state.bank_reference = bank_reference;
    state.settled_minor = request.amount_minor;
    waitFor(null);
    transition('SETTLED', 'payout_settled', bank_reference);
    await condition(allHandlersFinished);
    return state;
  } catch (err) {
    const unresolved = sendFailureEvent(err);
    if (unresolved) {
      // The send kept being refused for our credentials or answered unexpectedly until the retries
      // ran out (weeks): the bank may have paid, so nothing is undone; people finish it.
      markNeedsAttention(unresolved, `gave up sending the payout: ${failureMessage(err)}`);
      throw err;
    }
    if (paid && patched(PATCH_PAYOUT_PAID_NEVER_COMPENSATED)) {
      // The bank has paid: undoing the posting would charge the platform for the company's
      // payout. Leave the posting, flag, and fail the workflow for people to finish.
      markNeedsAttention('settlement_booking_failed', `gave up booking the settlement: ${failureMessage(err)}`);
      throw err;
    }
    const rejected =
      businessFailure(err, BUSINESS_FAILURE_TYPES.settlementRejected) ??
      // The bank's rejection by callback (thrown above).
      (err instanceof ApplicationFailure && err.type === BUSINESS_FAILURE_TYPES.settlementRejected ? err : null);
    state.compensation_reason = rejected ? String(rejected.details?.[0] ?? rejected.message) : 'step_failed';
    transition('COMPENSATING', rejected ? 'settlement_rejected' : 'step_failed', state.compensation_reason);
    await saga.compensate();
    waitFor(null);
    if (!rejected) throw err;
    transition('COMPENSATED', 'compensation_finished');
    await condition(allHandlersFinished);
    return state;
  }

  /** Books a paid payout's settlement until the ledger takes it: flagged at the first failure,
   * retried with a growing pause that an ops retry (which books it itself) cuts short. */
  async function bookUntilDone(first: unknown, bank_reference: string): Promise<void> {
    bookingFlagged = true;
    markNeedsAttention('settlement_booking_failed', failureMessage(first));
    await retryUntilDone(
      async (attempt) => {
        if (attempt === 1) throw first;
        if (!booked) await bookSettlement(`book the settlement of ${money(request.amount_minor)} (${bank_reference}), attempt ${attempt}`);
      },
      MUST_FINISH_RETRY,
      {
        failed: (attempt, _err, pause_ms) =>
          waitFor(`the ledger: booking the settlement again in ${pause_ms} ms (attempt ${attempt + 1}); retrySettlement books it now`),
        pause: async (pause_ms, next_attempt) => {
          await condition(() => booked, pause_ms, { summary: `pause before booking the settlement, attempt ${next_attempt}` });
        },
      },
    );
  }
}
