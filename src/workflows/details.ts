// What the Temporal Web UI shows of a running payment beyond its search attributes: the current
// details (markdown: status, amounts, what it waits for, the last events), refreshed at every step,
// and the ops actions' common parts (validation, who and why in the timeline, resolving attention).
// Current details are workflow memory served by a built-in query: they add no command to the
// history, so they change nothing a replay checks.
import { ApplicationFailure, log, setCurrentDetails } from '@temporalio/workflow';
import { formatMinor, type Currency } from '../domain/money.js';
import { OPS_ACTIONS, OPS_REFUSED, opsActionSchema, type OpsAction, type OpsActionName } from '../domain/ops.js';
import type { PaymentState, PaymentStatus, TimelineEntry } from '../domain/payment.js';
import { NeedsAttentionKey } from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import type { PaymentRecorder } from './payment-state.js';

/** Events the details list, most recent last. */
export const DETAILS_EVENTS_MAX = 6;

const money = (amount_minor: number, currency: string) => formatMinor(amount_minor, currency as Currency);

function eventLine(e: TimelineEntry): string {
  const who = e.operator ? ` by ${e.operator}` : '';
  const why = e.reason ? ` — "${e.reason}"` : '';
  const detail = e.detail ? `: ${e.detail}` : '';
  return `- ${e.at.slice(0, 19).replace('T', ' ')} \`${e.event}\`${who}${detail}${why}`;
}

/** The markdown the Web UI shows as a payment's current details. */
export function renderPaymentDetails(state: PaymentState, waiting_for: string | null, attention: string | null): string {
  const m = (v: number) => money(v, state.currency);
  const kind = state.kind === 'payout' ? 'Payout' : 'Card payment';
  const lines = [`**${kind} ${state.payment_id}: ${state.status}** — ${m(state.amount_minor)}`];
  if (state.needs_attention) lines.push('', `**Needs attention**${attention ? `: \`${attention}\`` : ''}`);
  const columns: Array<[string, number]> =
    state.kind === 'payout'
      ? [
          ['held', state.held_minor],
          ['posted', state.posted_minor],
          ['settled', state.settled_minor],
          ['reversed', state.reversed_minor],
        ]
      : [
          ['authorized', state.authorized_minor],
          ['held', state.held_minor],
          ['posted', state.posted_minor],
          ['refunded', state.refunded_minor],
        ];
  lines.push(
    '',
    `| ${columns.map(([name]) => name).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    `| ${columns.map(([, v]) => m(v)).join(' | ')} |`,
  );
  const facts = [
    state.company_id ? `company ${state.company_id}` : null,
    state.card_id ? `card ${state.card_id}` : null,
    state.merchant_mcc ? `MCC ${state.merchant_mcc}` : null,
    state.decline_reason ? `declined: ${state.decline_reason}` : null,
    state.compensation_reason ? `compensated: ${state.compensation_reason}` : null,
    state.bank_reference ? `bank reference ${state.bank_reference}` : null,
  ].filter((f): f is string => f !== null);
  if (facts.length > 0) lines.push('', facts.join(' · '));
  lines.push('', `**Waiting for**: ${waiting_for ?? 'nothing (finished)'}`);
  lines.push('', '**Last events**', ...state.timeline.slice(-DETAILS_EVENTS_MAX).map(eventLine));
  return lines.join('\n');
}

export interface DetailedRecorder extends PaymentRecorder {
  /** What the payment waits for now (null: nothing); refreshes the details. */
  waitFor(what: string | null): void;
  /** Records an ops action in the timeline (`ops_<action>`, who, why); with a status, as a
   * transition to it. */
  ops(action: OpsActionName, by: OpsAction, detail?: string, status?: PaymentStatus): void;
  /** Clears NeedsAttention (state and search attribute); the timeline keeps why it was raised. */
  resolveAttention(by: OpsAction): void;
}

/** Wraps a payment's recorder so that every step also refreshes the current details. */
export function withCurrentDetails(inner: PaymentRecorder, state: PaymentState): DetailedRecorder {
  let waiting_for: string | null = null;
  let attention: string | null = null;
  const refresh = () => setCurrentDetails(renderPaymentDetails(state, waiting_for, attention));
  const tagLast = (by: OpsAction) => {
    const entry = state.timeline[state.timeline.length - 1];
    if (entry) {
      entry.operator = by.operator;
      entry.reason = by.reason;
    }
  };
  return {
    transition(status, event, detail) {
      inner.transition(status, event, detail);
      refresh();
    },
    note(event, detail) {
      inner.note(event, detail);
      refresh();
    },
    markNeedsAttention(event, detail) {
      if (!state.needs_attention) attention = event;
      inner.markNeedsAttention(event, detail);
      refresh();
    },
    setAttribute: inner.setAttribute,
    flush: inner.flush,
    waitFor(what) {
      waiting_for = what;
      refresh();
    },
    ops(action, by, detail, status) {
      const event = `ops_${OPS_ACTIONS[action]}`;
      if (status) inner.transition(status, event, detail);
      else inner.note(event, detail);
      tagLast(by);
      log.info('ops action', { payment_id: state.payment_id, action, operator: by.operator, reason: by.reason });
      refresh();
    },
    resolveAttention(by) {
      state.needs_attention = false;
      inner.setAttribute({ key: NeedsAttentionKey, value: false });
      inner.note(`ops_${OPS_ACTIONS.resolveAttention}`, attention ? `was: ${attention}` : undefined);
      tagLast(by);
      log.info('ops action', { payment_id: state.payment_id, action: 'resolveAttention', operator: by.operator, reason: by.reason });
      attention = null;
      refresh();
    },
  };
}

/** An ops update refused: bad input, or the action does not apply to the payment now. */
export function opsRefused(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, OPS_REFUSED);
}

/** Parses an ops update's argument (validators and handlers). */
export function parseOpsAction(raw: unknown): OpsAction {
  const parsed = opsActionSchema.safeParse(raw);
  if (!parsed.success) throw opsRefused(describeIssue(parsed.error, 'ops action '));
  return parsed.data;
}

/** The validator of resolveAttention, the same for every payment. */
export function validateResolveAttention(state: PaymentState, raw: unknown): void {
  parseOpsAction(raw);
  if (!state.needs_attention) throw opsRefused(`payment ${state.payment_id} does not need attention: nothing to resolve`);
}
