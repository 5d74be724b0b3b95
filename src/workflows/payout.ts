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
  condition,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
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
import { getPaymentQuery, settlementConfirmedSignal } from './messages.js';
import { createPaymentRecorder } from './payment-state.js';

/** Ledger and gateway calls: retried on infrastructure errors without limit (money steps must
 * finish), with a ceiling on the backoff so recovery is noticed within a minute. */
const steps = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Compensations use the same activities; kept as a separate proxy so their policy can diverge. */
const compensations = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

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

  const { transition, note, markNeedsAttention } = createPaymentRecorder(state);
  transition('AUTHORIZING', 'payout_requested');

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
            await sleep(Math.min(COMPENSATION_PAUSE_MS_MIN * 2 ** (attempt - 1), COMPENSATION_PAUSE_MS_MAX));
          }
        }
        note(`compensated_${step.name}`);
      }
    });

  undo.unshift({
    name: 'hold',
    run: async () => {
      const { released } = await compensations.releaseHold(request);
      if (released) state.held_minor = 0;
    },
  });
  try {
    await steps.placeHold(request);
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
    transition('DECLINED', 'hold_declined', state.decline_reason);
    return state;
  }
  state.held_minor = request.amount_minor;
  state.authorized_minor = request.amount_minor;
  transition('AUTHORIZED', 'hold_placed');

  try {
    undo.unshift({
      name: 'posting',
      run: async () => {
        const { reversed_minor } = await compensations.reversePosting(request);
        state.reversed_minor = reversed_minor;
      },
    });
    await steps.postHold(request);
    state.held_minor = 0;
    state.posted_minor = request.amount_minor;
    transition('POSTED', 'hold_posted');

    transition('SETTLING', 'payout_sent');
    // The bank has answered for good: at once, or (after `accepted`) by its confirmation.
    let bankAnswered = false;
    const sending = steps.sendPayout(request).then(
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
        const answered = await condition(() => bankAnswered, options.settlement_attention_after_ms);
        if (!answered)
          markNeedsAttention('settlement_waiting', `no answer from the bank after ${options.settlement_attention_after_ms} ms`);
      })();
    }
    const answer = await sending;
    let bank_reference: string;
    if ('accepted' in answer) {
      // Waiting for the callback moves the attention timer's cancellation (and every later command)
      // from the send's answer to the confirmation. Histories recorded before this patch never hold
      // an `accepted` answer (banks answered at once), so their replay never reaches this point; the
      // marker records the new behaviour for payments that do.
      patched(PATCH_SETTLEMENT_CALLBACK);
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
    await steps.recordSettlement(request);
    state.bank_reference = bank_reference;
    state.settled_minor = request.amount_minor;
    transition('SETTLED', 'payout_settled', bank_reference);
    return state;
  } catch (err) {
    const rejected =
      businessFailure(err, BUSINESS_FAILURE_TYPES.settlementRejected) ??
      // The bank's rejection by callback (thrown above).
      (err instanceof ApplicationFailure && err.type === BUSINESS_FAILURE_TYPES.settlementRejected ? err : null);
    state.compensation_reason = rejected ? String(rejected.details?.[0] ?? rejected.message) : 'step_failed';
    transition('COMPENSATING', rejected ? 'settlement_rejected' : 'step_failed', state.compensation_reason);
    await runCompensations();
    if (!rejected) throw err;
    transition('COMPENSATED', 'compensation_finished');
    return state;
  }
}
