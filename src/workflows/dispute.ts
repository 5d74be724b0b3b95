// One dispute of a card payment, from the company's request to the outcome (workflow id
// `dispute-<payment>:dispute:<key>`). The lifecycle's decisions are the Decider's
// (src/domain/dispute-lifecycle.ts); this workflow runs the steps its events call for:
//
//   opened             provisional credit booked (the ledger checks the amount in that transaction)
//   chargeback_filed   the chargeback filed with the network; then the representment window runs
//   pre_arbitration    the merchant represented: escalated to the network; the arbitration window runs
//   won                the credit is final, the network owes it
//   lost               the credit is taken back
//   withdrawn          the company withdrew (or a refund covered it all): the saga compensates
//   refused            not opened (over the amount, another dispute open), or the network refused
//                      the chargeback: the saga compensates what was booked
//
// Saga rules (DESIGN.md section 5, src/workflows/saga.ts): each compensation is registered before
// its step runs, runs in reverse order in a non-cancellable scope, retried until done. Messages
// (network answers, withdrawal, refund notices) are queued and handled one at a time; before each,
// refunds of the payment are reconciled with the dispute (the ledger is the source of truth).
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  DISPUTE_FAILURE_TYPES,
  assertDisputeOptions,
  disputeStartSchema,
  networkResponseSchema,
  withdrawDisputeSchema,
  type DisputeStart,
  type DisputeView,
  type DisputeWorkflowOptions,
} from '../domain/dispute.js';
import {
  decide,
  evolve,
  initialDisputeState,
  isFinalDispute,
  type DisputeCommand,
  type DisputeEvent,
  type DisputeState,
} from '../domain/dispute-lifecycle.js';
import { disputeViewOf, type DisputeStepContext } from '../domain/dispute-events.js';
import { formatMinor } from '../domain/money.js';
import { DisputeStatusKey, NeedsAttentionKey } from '../domain/search-attributes.js';
import { describeIssue, parseOrFail } from '../domain/validation.js';
import { getDisputeQuery, networkResponseUpdate, refundBookedSignal, withdrawDisputeUpdate } from './dispute-messages.js';
import { createSaga, type RetryPolicy } from './saga.js';
import { TIMELINE_LENGTH_MAX } from './payment-state.js';

/** Ledger and network steps: infrastructure errors retried without limit, backoff capped. */
const STEP_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const steps = proxyActivities<Activities>(STEP_OPTIONS);
const step = (summary: string): ActivityOptions => ({ ...STEP_OPTIONS, summary });

/** Compensations never give up (about 40 days with the pause at its ceiling): people step in. */
const MUST_FINISH_RETRY: RetryPolicy = { attempts_max: 1000, pause_ms_min: 1_000, pause_ms_max: 3_600_000 };
/** Messages queued at once; more are refused (the network and the company send a handful). */
export const DISPUTE_INBOX_MAX = 100;

const isChargebackRefused = (err: unknown): err is ActivityFailure =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === DISPUTE_FAILURE_TYPES.chargebackRefused;

export async function disputeWorkflow(input: DisputeStart, options: DisputeWorkflowOptions): Promise<DisputeView> {
  const d = parseOrFail(disputeStartSchema, input, 'dispute');
  try {
    assertDisputeOptions(options);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidDisputeOptions');
  }
  const money = (amount_minor: number) => formatMinor(amount_minor, d.currency);
  let state: DisputeState = initialDisputeState(d.reason, d.amount_minor);
  const view: DisputeView = {
    dispute_id: d.dispute_id,
    payment_id: d.payment_id,
    company_id: d.company_id,
    currency: d.currency,
    reason: d.reason,
    evidence: d.evidence,
    status: state.status,
    amount_minor: d.amount_minor,
    open_minor: state.open_minor,
    credited_minor: 0,
    won_minor: 0,
    reversed_minor: 0,
    case_id: null,
    refusal: null,
    needs_attention: false,
    deadline_at_ms: null,
    timeline: [],
  };
  setHandler(getDisputeQuery, () => view);

  const note = (event: string, detail?: string) => {
    if (view.timeline.length < TIMELINE_LENGTH_MAX) view.timeline.push({ at_ms: Date.now(), event, ...(detail ? { detail } : {}) });
  };
  /** Applies events to the state and the view; search attributes follow the status and the flag. */
  const apply = (list: readonly DisputeEvent[]) => {
    const before = state;
    for (const e of list) {
      state = evolve(state, e);
      const { type, ...rest } = e;
      note(type, Object.keys(rest).length > 0 ? JSON.stringify(rest) : undefined);
    }
    Object.assign(view, disputeViewOf(view, state));
    const changed = [
      ...(before.status !== state.status ? [{ key: DisputeStatusKey, value: state.status }] : []),
      ...(before.needs_attention !== state.needs_attention ? [{ key: NeedsAttentionKey, value: state.needs_attention }] : []),
    ];
    if (changed.length > 0) upsertSearchAttributes(changed);
  };
  const flag = (reason: string, detail: string) => apply([{ type: 'attention', reason, detail }]);
  /** What a step's event needs (issue 16): the dispute now, without its timeline (it goes into
   * the step's input, recorded in history: kept small). The step emits the event after its ledger
   * write; the inputs are no part of the command sequence, so recorded histories still replay. */
  const eventContext = (): DisputeStepContext => ({ view: { ...view, timeline: [] }, state });
  /** The outcome the saga's compensation is part of (withdrawn, refused): its event's. */
  let ending: DisputeEvent | null = null;

  // Messages, one at a time in arrival order; each update returns once its message is handled.
  const inbox: Array<{ command: DisputeCommand; ticket: number }> = [];
  let received = 0;
  let handled = 0;
  const enqueue = async (command: DisputeCommand): Promise<DisputeView> => {
    const ticket = ++received;
    inbox.push({ command, ticket });
    await condition(() => handled >= ticket);
    return view;
  };
  /** Refuses a message the dispute cannot take now (validators run before anything is recorded). */
  const validate = (command: DisputeCommand) => {
    if (inbox.length >= DISPUTE_INBOX_MAX) throw new Error(`dispute ${d.dispute_id} has ${DISPUTE_INBOX_MAX} messages waiting`);
    if (state.status === 'OPENING') throw new Error(`dispute ${d.dispute_id} is still being opened: send it again shortly`);
    const decision = decide(state, command);
    if ('refused' in decision) throw new Error(decision.refused);
  };
  const networkCommand = (raw: unknown): DisputeCommand => {
    const parsed = networkResponseSchema.safeParse(raw);
    if (!parsed.success) throw new Error(describeIssue(parsed.error, 'network response '));
    return { kind: 'network_response', response: parsed.data.response, detail: parsed.data.detail };
  };
  const withdrawCommand = (raw: unknown): DisputeCommand => {
    const parsed = withdrawDisputeSchema.safeParse(raw);
    if (!parsed.success) throw new Error(describeIssue(parsed.error, 'withdrawal '));
    return { kind: 'withdraw', reason: parsed.data.reason };
  };
  setHandler(networkResponseUpdate, (raw) => enqueue(networkCommand(raw)), { validator: (raw) => validate(networkCommand(raw)) });
  setHandler(withdrawDisputeUpdate, (raw) => enqueue(withdrawCommand(raw)), { validator: (raw) => validate(withdrawCommand(raw)) });
  let refundNotices = 0;
  setHandler(refundBookedSignal, () => {
    refundNotices += 1;
  });

  const saga = createSaga(MUST_FINISH_RETRY, {
    failed: (name, attempt, err) => {
      if (attempt === 1) flag(`compensation_failed_${name}`, String((err as Error).cause ?? err));
    },
    pause: (name, pause_ms, next_attempt) => sleep(pause_ms, { summary: `pause before compensation ${name} attempt ${next_attempt}` }),
    compensated: (name) => note(`compensated_${name}`),
    shielded: (fn) => CancellationScope.nonCancellable(fn),
  });

  // 1. Provisional credit, checked by the ledger. Its compensation takes back what is still
  // credited then (a refund may have taken part of it back already).
  saga.register('provisional_credit', async () => {
    const { overlimit } = await steps.reverseDisputeCredit.executeWithOptions(
      step(`compensate: take back ${money(state.credited_minor)} of provisional credit`),
      [
        {
          dispute: d,
          credited_minor: state.credited_minor,
          allowance_minor: state.credited_minor,
          event_context: ending ? { ...eventContext(), outcome: ending } : undefined,
        },
      ],
    );
    if (overlimit) flag('dispute_credit_overlimit', 'the credit line could not take the credit back: booked on the over-limit receivable');
  });
  const opened = await steps.openDispute.executeWithOptions(step(`provisional credit of ${money(d.amount_minor)} to ${d.company_id}`), [
    { ...d, event_context: eventContext() },
  ]);
  if (!opened.booked) {
    // The ledger refused it and records the refusal under its ids: nothing was booked.
    saga.forget('provisional_credit');
    apply(decided({ kind: 'credit_refused', reason: opened.reason }));
    return view;
  }
  apply(decided({ kind: 'credit_booked' }));

  // 2. The chargeback, filed with the network (withdrawn at the network if the saga compensates).
  saga.register('chargeback', async () => {
    await steps.fileDispute.executeWithOptions(step('compensate: withdraw the chargeback at the network'), [
      { dispute: d, stage: 'withdrawal', amount_minor: d.amount_minor },
    ]);
  });
  try {
    const { case_id } = await steps.fileDispute.executeWithOptions(step(`file the chargeback of ${money(d.amount_minor)}`), [
      { dispute: d, stage: 'chargeback', amount_minor: d.amount_minor },
    ]);
    view.case_id = case_id;
    apply(decided({ kind: 'chargeback_filed', case_id }));
  } catch (err) {
    if (!isChargebackRefused(err)) throw err;
    // Nothing was filed: only the credit is undone.
    saga.forget('chargeback');
    const refused = decided({
      kind: 'chargeback_refused',
      reason: String(err.cause instanceof ApplicationFailure ? err.cause.message : err),
    });
    ending = refused[0] ?? null;
    await saga.compensate();
    apply(refused);
    return view;
  }

  // 3. The merchant's answer within the representment window; a representment goes to
  // pre-arbitration and the network's ruling within the arbitration window.
  let stage_started_ms = Date.now();
  let seenNotices = 0;
  while (!isFinalDispute(state.status)) {
    const window_ms = state.status === 'FILED' ? options.representment_window_ms : options.arbitration_window_ms;
    const overdue = state.status === 'PRE_ARBITRATION' && state.needs_attention;
    const left_ms = stage_started_ms + window_ms - Date.now();
    view.deadline_at_ms = overdue ? null : stage_started_ms + window_ms;
    const arrived = overdue
      ? (await condition(() => inbox.length > 0 || refundNotices > seenNotices), true)
      : left_ms > 0 && (await condition(() => inbox.length > 0 || refundNotices > seenNotices, left_ms));
    seenNotices = refundNotices;
    await reconcileRefunds();
    if (isFinalDispute(state.status)) break;
    const message = arrived ? inbox.shift() : undefined;
    if (arrived && !message) continue; // a refund notice: reconciled above
    const command: DisputeCommand = message
      ? message.command
      : state.status === 'FILED'
        ? { kind: 'representment_window_passed' }
        : { kind: 'arbitration_window_passed' };
    const decision = decide(state, command);
    if ('refused' in decision) {
      // Valid when sent, overtaken since (e.g. a refund withdrew the dispute meanwhile).
      note('message_refused', decision.refused);
    } else {
      const status = state.status;
      await carryOut(decision.events);
      if (state.status !== status) stage_started_ms = Date.now();
    }
    if (message) handled = message.ticket;
  }
  // Messages that came after the outcome are answered with it.
  handled = received;
  view.deadline_at_ms = null;
  await condition(allHandlersFinished);
  return view;

  function decided(command: DisputeCommand): DisputeEvent[] {
    const decision = decide(state, command);
    if ('refused' in decision) throw ApplicationFailure.nonRetryable(`dispute ${d.dispute_id}: ${decision.refused}`, 'DisputeBug');
    return decision.events;
  }

  /** Runs what the events call for, then records them (a step that fails is retried by Temporal). */
  async function carryOut(list: DisputeEvent[]): Promise<void> {
    for (const e of list) {
      switch (e.type) {
        case 'pre_arbitration_filed':
          await steps.fileDispute.executeWithOptions(step(`escalate to pre-arbitration (${money(state.open_minor)})`), [
            { dispute: d, stage: 'pre_arbitration', amount_minor: state.open_minor },
          ]);
          break;
        case 'won':
          await steps.bookDisputeWon.executeWithOptions(step(`won: ${money(e.won_minor)} final, owed by the network`), [
            { dispute: d, won_minor: e.won_minor, event_context: { ...eventContext(), outcome: e } },
          ]);
          saga.forget('chargeback');
          saga.forget('provisional_credit');
          break;
        case 'lost':
          saga.forget('chargeback');
          saga.forget('provisional_credit');
          if (
            (
              await steps.reverseDisputeCredit.executeWithOptions(
                step(`lost: take back ${money(e.reversed_minor)} of provisional credit`),
                [
                  {
                    dispute: d,
                    credited_minor: e.reversed_minor,
                    allowance_minor: e.reversed_minor,
                    event_context: { ...eventContext(), outcome: e },
                  },
                ],
              )
            ).overlimit
          ) {
            flag('dispute_credit_overlimit', 'the credit line could not take the credit back: booked on the over-limit receivable');
          }
          break;
        case 'withdrawn':
          // The chargeback is withdrawn at the network, then the credit still held is taken back
          // (that step writes the dispute.withdrawn event).
          ending = e;
          await saga.compensate();
          break;
        default:
          break;
      }
      apply([e]);
    }
  }

  /** Refunds the payment received while this dispute held its allowance reduce the dispute. */
  async function reconcileRefunds(): Promise<void> {
    if (state.status !== 'FILED' && state.status !== 'PRE_ARBITRATION') return;
    const { covered_minor } = await steps.reconcileDisputeRefunds.executeWithOptions(step('reconcile refunds of the payment'), [
      { dispute: d, open_minor: state.open_minor, event_context: eventContext() },
    ]);
    if (covered_minor === 0) return;
    const decision = decide(state, { kind: 'refund_overlap', covered_minor });
    if ('refused' in decision) throw ApplicationFailure.nonRetryable(`dispute ${d.dispute_id}: ${decision.refused}`, 'DisputeBug');
    await carryOut(decision.events);
  }
}
