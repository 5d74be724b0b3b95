// A company's billing cycle (one workflow per company and currency, `billing-<company>-<currency>`;
// one run per statement, continue-as-new at each close): wait for the cycle's close, close the
// statement from the ledger, collect it on the due date by direct debit, run dunning after the
// grace period (reminder, past due, cards frozen, late fee), unfreeze when paid. The statement's
// lifecycle is the pure decider in src/domain/billing.ts; this file interprets its events.
//
// The direct debit is a saga (src/workflows/saga.ts): the reversal of the repayment is registered
// before the repayment is posted, and runs when the company's bank returns the debit (in this run;
// a return arriving in a later run reverses the same transfer id through the same activity). The
// credit line is restored exactly once per collected amount: every ledger write has an id derived
// from the company, the currency and the step's key.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  COLLECTED_DEBITS_MAX,
  billingInputSchema,
  cycleEndMs,
  decideStatement,
  describeStatementEvent,
  directDebitAnswerSchema,
  evolveStatement,
  initialStatementState,
  recordRepaymentSchema,
  statementIdOf,
  type BillingInput,
  type DirectDebitAnswer,
  type RepaymentReceipt,
  type StatementCommand,
  type StatementEvent,
  type StatementState,
} from '../domain/billing.js';
import { formatMinor } from '../domain/money.js';
import type { TimelineEntry } from '../domain/payment.js';
import { CompanyIdKey, CurrencyKey, StatementStatusKey } from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import { directDebitAnsweredSignal, getBillingQuery, recordRepaymentUpdate, type BillingView } from './billing-messages.js';
import { createSaga, retryUntilDone, type RetryPolicy } from './saga.js';
import { createSerialQueue } from './serial-queue.js';

/** Ledger, card and bank steps retry infrastructure errors without limit (money steps must
 * finish), the backoff capped so recovery is noticed within a minute. */
const STEP_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const steps = proxyActivities<Activities>(STEP_OPTIONS);
const step = (summary: string): ActivityOptions => ({ ...STEP_OPTIONS, summary });

/** A reversal of a returned debit, or a send the bank answered unreadably, that keeps failing is
 * retried this often (about 40 days at the hour-long ceiling) before the workflow fails. */
const MUST_FINISH_RETRY: RetryPolicy = { attempts_max: 1000, pause_ms_min: 1_000, pause_ms_max: 3_600_000 };
/** Messages (repayments, bank answers) queued behind the one running, at most. */
const QUEUED_MESSAGES_MAX = 100;
const TIMELINE_LENGTH_MAX = 100;

export async function billingWorkflow(input: BillingInput): Promise<void> {
  const parsed = billingInputSchema.safeParse(input);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssue(parsed.error, 'billing '), 'InvalidBilling');
  const run = parsed.data;
  const { company_id, currency, policy, cycle_number } = run;
  const company = { company_id, currency };
  const billing_start_ms = Date.parse(run.billing_start);
  const closes_at_ms = cycleEndMs(policy.cycle, billing_start_ms, cycle_number);
  const window_end = new Date(closes_at_ms).toISOString();
  const money = (amount_minor: number) => formatMinor(amount_minor, currency);

  let lifecycle: StatementState = initialStatementState(run.carried);
  /** Debits collected (this run's and earlier ones') that the bank may still return. */
  const collected = [...run.carried.collected_debits];
  let debit_amount_minor = 0;
  let event_seq = 0;
  const timeline: TimelineEntry[] = [];
  let waiting_for = '';
  const view = (): BillingView => ({
    company_id,
    currency,
    cycle_number,
    closes_at: window_end,
    statement_id: lifecycle.statement ? statementIdOf(company_id, currency, cycle_number) : null,
    lifecycle,
    timeline,
  });
  setHandler(getBillingQuery, view);
  const refresh = () => {
    const s = lifecycle.statement;
    setCurrentDetails(
      [
        `**Billing ${company_id} ${currency}, cycle ${cycle_number}: ${lifecycle.status ?? 'cycle open'}**`,
        s
          ? `closing balance ${money(s.closing_balance_minor)}, minimum due ${money(s.minimum_due_minor)}, paid ${money(lifecycle.paid_minor)}`
          : `closes at ${window_end}`,
        `cards ${lifecycle.frozen ? 'frozen by dunning' : 'not frozen by billing'}; direct debit: ${lifecycle.debit}`,
        '',
        `**Waiting for**: ${waiting_for}`,
        '',
        ...timeline.slice(-6).map((e) => `- ${e.at.slice(0, 19).replace('T', ' ')} \`${e.event}\`${e.detail ? `: ${e.detail}` : ''}`),
      ].join('\n'),
    );
  };
  const note = (event: string, detail?: string) => {
    if (timeline.length >= TIMELINE_LENGTH_MAX) timeline.splice(0, 1);
    timeline.push({ at: new Date().toISOString(), event, ...(detail ? { detail } : {}) });
    refresh();
  };
  const waitFor = (what: string) => {
    waiting_for = what;
    refresh();
  };
  upsertSearchAttributes([
    { key: CompanyIdKey, value: company_id },
    { key: CurrencyKey, value: currency },
    { key: StatementStatusKey, value: lifecycle.frozen ? 'PAST_DUE' : 'CYCLE_OPEN' },
  ]);

  const repaid = () =>
    steps.billingRepaidSince.executeWithOptions(step('read the repayments since the close'), [{ ...company, since: window_end }]);

  // The direct debit's saga: the reversal of a collected debit is registered before the
  // repayment is posted, and runs on the bank's return.
  const saga = createSaga(MUST_FINISH_RETRY, {
    failed: (name, attempt, err) => note('compensation_failed', `${name} attempt ${attempt}: ${String(err)}`),
    pause: (_name, pause_ms) => sleep(pause_ms),
    compensated: (name) => note('compensated', name),
    shielded: (fn) => CancellationScope.nonCancellable(fn),
  });
  const reverseDebit = (debit_cycle: number, amount_minor: number) =>
    steps.reverseRepayment
      .executeWithOptions(step(`reverse the returned debit of cycle ${debit_cycle}: ${money(amount_minor)}`), [
        { ...company, key: `debit:${debit_cycle}`, amount_minor },
      ])
      .then(() => undefined);

  /** What an event does beyond the record; returns the commands that follow from it. */
  async function interpret(event: StatementEvent): Promise<StatementCommand[]> {
    switch (event.type) {
      case 'statement.debit_requested': {
        if (!policy.direct_debit) return [];
        debit_amount_minor = event.amount_minor;
        waitFor(`the bank: direct debit of ${money(event.amount_minor)}`);
        const answer = await retryUntilDone(
          () =>
            steps.sendDirectDebit.executeWithOptions(step(`direct debit ${money(event.amount_minor)}`), [
              { ...company, cycle_number, amount_minor: event.amount_minor, mandate: policy.direct_debit! },
            ]),
          MUST_FINISH_RETRY,
          {
            retryable: (err) => err instanceof ActivityFailure,
            failed: (attempt, err) => note('debit_send_failed', `attempt ${attempt}: ${String((err as Error).cause ?? err)}`),
            pause: (pause_ms) => sleep(pause_ms),
          },
        );
        if (answer.status === 'accepted') return [];
        const bank: DirectDebitAnswer =
          answer.status === 'collected'
            ? { status: 'collected', bank_reference: answer.bank_reference }
            : { status: 'failed', reason: answer.reason };
        return [{ type: 'debit_answered', answer: bank, amount_minor: event.amount_minor }];
      }
      case 'statement.debit_collected': {
        saga.register(`reverse debit ${cycle_number}`, () => reverseDebit(cycle_number, event.amount_minor));
        await steps.postRepayment.executeWithOptions(step(`post the collected debit ${money(event.amount_minor)}: restore the line`), [
          { ...company, key: `debit:${cycle_number}`, amount_minor: event.amount_minor },
        ]);
        collected.push({ cycle_number, amount_minor: event.amount_minor });
        return [{ type: 'payments', paid_minor: await repaid() }];
      }
      case 'statement.debit_returned': {
        await saga.compensate();
        const index = collected.findIndex((d) => d.cycle_number === cycle_number);
        if (index >= 0) collected.splice(index, 1);
        return [{ type: 'payments', paid_minor: await repaid() }];
      }
      case 'statement.cards_frozen': {
        const { frozen } = await steps.freezeCompanyCards.executeWithOptions(step('dunning: freeze the company cards'), [company]);
        note('cards_frozen', `${frozen} card(s)`);
        return [];
      }
      case 'statement.cards_unfrozen': {
        const { unfrozen } = await steps.unfreezeCompanyCards.executeWithOptions(step('paid: unfreeze the company cards'), [company]);
        note('cards_unfrozen', `${unfrozen} card(s)`);
        return [];
      }
      case 'statement.late_fee_charged':
        await steps.chargeLateFee.executeWithOptions(step(`dunning: late fee ${money(event.amount_minor)}`), [
          { ...company, cycle_number, amount_minor: event.amount_minor },
        ]);
        return [];
      default:
        return [];
    }
  }

  /** Decides a command and every command that follows from its events, recording each event. */
  async function handle(command: StatementCommand): Promise<void> {
    const pending: StatementCommand[] = [command];
    // Bounded: each event moves the lifecycle forward; a statement has a dozen events at most.
    while (pending.length > 0) {
      const next = pending.shift()!;
      for (const event of decideStatement(lifecycle, next)) {
        lifecycle = evolveStatement(lifecycle, event);
        event_seq += 1;
        const detail = describeStatementEvent(event);
        note(event.type, detail);
        if (lifecycle.status) upsertSearchAttributes([{ key: StatementStatusKey, value: lifecycle.status }]);
        await steps.recordStatementEvent.executeWithOptions(step(`record ${event.type}`), [
          {
            ...company,
            cycle_number,
            event_key: `${event_seq}:${event.type}`,
            type: event.type,
            status: lifecycle.status ?? 'OPEN',
            paid_minor: lifecycle.paid_minor,
            detail,
          },
        ]);
        pending.push(...(await interpret(event)));
      }
    }
  }

  const queue = createSerialQueue(QUEUED_MESSAGES_MAX);

  setHandler(directDebitAnsweredSignal, (message) => {
    const answer = directDebitAnswerSchema.safeParse(message?.answer);
    if (!answer.success || !Number.isSafeInteger(message.cycle_number)) {
      log.warn('direct debit answer ignored: malformed', { company_id });
      return;
    }
    note('bank_answered', `direct debit of cycle ${message.cycle_number}: ${answer.data.status}`);
    void queue
      .run(async () => {
        if (message.cycle_number === cycle_number && lifecycle.statement) {
          const amount_minor =
            answer.data.status === 'returned'
              ? (collected.find((d) => d.cycle_number === cycle_number)?.amount_minor ?? 0)
              : debit_amount_minor;
          await handle({ type: 'debit_answered', answer: answer.data, amount_minor });
          return;
        }
        // A debit of an earlier statement returned now: reverse it (same transfer id as in its own run).
        const earlier = collected.findIndex((d) => d.cycle_number === message.cycle_number);
        if (answer.data.status !== 'returned' || earlier < 0) {
          note('debit_answer_ignored', `cycle ${message.cycle_number}: ${answer.data.status}`);
          return;
        }
        const [debit] = collected.splice(earlier, 1);
        note('statement.debit_returned', `cycle ${debit!.cycle_number}: ${money(debit!.amount_minor)} (${answer.data.reason})`);
        await retryUntilDone(() => reverseDebit(debit!.cycle_number, debit!.amount_minor), MUST_FINISH_RETRY, {
          failed: (attempt, err) => note('compensation_failed', `attempt ${attempt}: ${String(err)}`),
          pause: (pause_ms) => sleep(pause_ms),
        });
        if (lifecycle.statement) await handle({ type: 'payments', paid_minor: await repaid() });
      })
      .catch((err: unknown) => note('debit_answer_failed', String(err)));
  });

  setHandler(
    recordRepaymentUpdate,
    (raw) =>
      queue.run(async (): Promise<RepaymentReceipt> => {
        const request = recordRepaymentSchema.parse(raw);
        const posted = await steps.postRepayment.executeWithOptions(
          step(`repayment ${request.idempotency_key}: ${money(request.amount_minor)}`),
          [{ ...company, key: `transfer:${request.idempotency_key}`, amount_minor: request.amount_minor }],
        );
        if (lifecycle.statement) await handle({ type: 'payments', paid_minor: await repaid() });
        return {
          idempotency_key: request.idempotency_key,
          amount_minor: request.amount_minor,
          created: posted.created,
          transfer_id: posted.transfer_id,
          statement: lifecycle.statement
            ? {
                statement_id: statementIdOf(company_id, currency, cycle_number),
                status: lifecycle.status ?? 'OPEN',
                paid_minor: lifecycle.paid_minor,
              }
            : null,
        };
      }),
    {
      validator: (raw) => {
        const checked = recordRepaymentSchema.safeParse(raw);
        if (!checked.success) throw ApplicationFailure.nonRetryable(describeIssue(checked.error, 'repayment '), 'InvalidBilling');
      },
    },
  );

  const sleepUntil = async (at_ms: number, what: string) => {
    waitFor(what);
    const wait_ms = at_ms - Date.now();
    if (wait_ms > 0) await sleep(wait_ms, { summary: what });
  };

  // 1. The cycle runs until its close; repayments meanwhile land in this statement's window.
  await steps.ensureBillingAccounts.executeWithOptions(step('billing accounts'), [company]);
  note('cycle_opened', `closes ${window_end}`);
  await sleepUntil(closes_at_ms, `the close of cycle ${cycle_number} at ${window_end}`);

  // 2. The statement, from the ledger, once the cut-off has passed.
  waitFor('the ledger: the statement (after the cut-off)');
  const due_at_ms = closes_at_ms + policy.due_after_ms;
  const statement = await steps.closeStatement.executeWithOptions(step(`close statement ${cycle_number}`), [
    {
      ...company,
      cycle_number,
      billing_start: run.billing_start,
      window_end,
      lag_ms: policy.cutoff_lag_ms,
      due_at: new Date(due_at_ms).toISOString(),
      minimum_due_percent: policy.minimum_due_percent,
      minimum_due_floor_minor: policy.minimum_due_floor_minor,
    },
  ]);
  await queue.run(() =>
    handle({
      type: 'close',
      statement: { cycle_number, closing_balance_minor: statement.closing_balance_minor, minimum_due_minor: statement.minimum_due_minor },
    }),
  );

  // 3. The due date: collect what is still due by direct debit.
  await sleepUntil(due_at_ms, `the due date ${statement.due_at}`);
  await queue.run(async () => {
    await handle({ type: 'payments', paid_minor: await repaid() });
    await handle({ type: 'due', has_mandate: policy.direct_debit !== null });
  });

  // 4. The grace period's end: dunning if the minimum is still unpaid.
  await sleepUntil(due_at_ms + policy.grace_ms, 'the end of the grace period');
  await queue.run(async () => {
    await handle({ type: 'payments', paid_minor: await repaid() });
    await handle({ type: 'grace_over', late_fee_minor: policy.late_fee_minor });
  });

  // 5. The next close: an unpaid balance carries over into the next statement's opening balance.
  const next_close_ms = cycleEndMs(policy.cycle, billing_start_ms, cycle_number + 1);
  await sleepUntil(next_close_ms, `the next close (${new Date(next_close_ms).toISOString()})`);
  await queue.run(() => handle({ type: 'roll_over' }));
  await condition(() => queue.idle && allHandlersFinished());
  return continueAsNew<typeof billingWorkflow>({
    ...run,
    cycle_number: cycle_number + 1,
    carried: { frozen: lifecycle.frozen, collected_debits: collected.slice(-COLLECTED_DEBITS_MAX) },
  });
}
