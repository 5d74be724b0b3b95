// A dispute's lifecycle as a Decider: `decide(state, command)` says what a command (a step's result,
// a network answer, a deadline, the company's withdrawal) does — the events that happened, or a
// refusal — and `evolve(state, event)` applies one event. Pure: the dispute workflow
// (src/workflows/dispute.ts) runs the ledger and network steps that the events call for, and the
// unit tests run the same functions without Temporal (test/unit/dispute-lifecycle.test.ts).
//
// The stages follow the card networks': the company's dispute is credited provisionally and filed
// as a chargeback; the merchant accepts it (won) or represents (contests) it within the
// representment window, and silence loses the merchant the case (won); a representment is taken to
// pre-arbitration, where the network rules (won or lost). A pre-arbitration with no ruling past its
// window needs a person (attention), and the dispute keeps waiting for the ruling. The company may
// withdraw until the outcome. A refund of the payment that overlaps the dispute reduces it
// (`reduced`); reduced to nothing, the dispute is withdrawn.
//
// Events that are webhook events (issue 16 point 4): `opened` -> dispute.opened, `won` ->
// dispute.won, `lost` -> dispute.lost, `withdrawn` -> dispute.withdrawn.
import type { DisputeReason, NetworkResponse } from './dispute.js';

export const DISPUTE_STATUSES = ['OPENING', 'REFUSED', 'FILED', 'PRE_ARBITRATION', 'WON', 'LOST', 'WITHDRAWN'] as const;
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number];
const FINAL: ReadonlySet<DisputeStatus> = new Set(['REFUSED', 'WON', 'LOST', 'WITHDRAWN']);
export const isFinalDispute = (status: DisputeStatus): boolean => FINAL.has(status);

export interface DisputeState {
  status: DisputeStatus;
  reason: DisputeReason;
  /** What the company disputed. */
  amount_minor: number;
  /** Still disputed: the amount less what refunds of the payment covered. */
  open_minor: number;
  /** Provisional credit the company holds now (reversed when lost or withdrawn). */
  credited_minor: number;
  /** Made final by a win (the network pays). */
  won_minor: number;
  /** Provisional credit taken back (lost, withdrawn, or covered by a refund). */
  reversed_minor: number;
  refusal: string | null;
  needs_attention: boolean;
}

export function initialDisputeState(reason: DisputeReason, amount_minor: number): DisputeState {
  if (!(Number.isSafeInteger(amount_minor) && amount_minor > 0))
    throw new Error(`amount_minor must be a positive integer, got ${amount_minor}`);
  return {
    status: 'OPENING',
    reason,
    amount_minor,
    open_minor: amount_minor,
    credited_minor: 0,
    won_minor: 0,
    reversed_minor: 0,
    refusal: null,
    needs_attention: false,
  };
}

export type DisputeCommand =
  /** The ledger's answer to the provisional credit (and the amount check in its transaction). */
  | { kind: 'credit_booked' }
  | { kind: 'credit_refused'; reason: string }
  /** The network's answer to the chargeback filing. */
  | { kind: 'chargeback_filed'; case_id: string }
  | { kind: 'chargeback_refused'; reason: string }
  | { kind: 'network_response'; response: NetworkResponse; detail: string }
  /** A deadline's timer fired (ignored when the stage it guarded is over). */
  | { kind: 'representment_window_passed' }
  | { kind: 'arbitration_window_passed' }
  | { kind: 'withdraw'; reason: string }
  /** Refunds of the payment overlapped the dispute by `covered_minor` (reconciled in the ledger). */
  | { kind: 'refund_overlap'; covered_minor: number };

export type DisputeEvent =
  | { type: 'opened'; credited_minor: number }
  | { type: 'refused'; reason: string }
  | { type: 'chargeback_filed'; case_id: string }
  | { type: 'merchant_represented'; detail: string }
  | { type: 'pre_arbitration_filed' }
  | { type: 'won'; won_minor: number; detail: string }
  | { type: 'lost'; reversed_minor: number; detail: string }
  | { type: 'withdrawn'; reversed_minor: number; reason: string }
  | { type: 'reduced'; covered_minor: number }
  | { type: 'attention'; reason: string; detail: string };

export type DisputeDecision = { events: DisputeEvent[] } | { refused: string };

const events = (...list: DisputeEvent[]): DisputeDecision => ({ events: list });
const refuse = (message: string): DisputeDecision => ({ refused: message });

export function decide(s: DisputeState, c: DisputeCommand): DisputeDecision {
  switch (c.kind) {
    case 'credit_booked':
      if (s.status !== 'OPENING') return refuse(`the provisional credit was already booked (dispute ${s.status})`);
      return events({ type: 'opened', credited_minor: s.amount_minor });
    case 'credit_refused':
      if (s.status !== 'OPENING') return refuse(`dispute is ${s.status}: nothing to refuse`);
      return events({ type: 'refused', reason: c.reason });
    case 'chargeback_filed':
      if (s.status !== 'OPENING' || s.credited_minor === 0)
        return refuse(`a chargeback is filed once, after the credit (dispute ${s.status})`);
      return events({ type: 'chargeback_filed', case_id: c.case_id });
    case 'chargeback_refused':
      // The network will not take the case: the provisional credit is undone (the saga compensates).
      if (s.status !== 'OPENING') return refuse(`dispute is ${s.status}: no filing to refuse`);
      return events({ type: 'refused', reason: `the network refused the chargeback: ${c.reason}` });
    case 'network_response':
      return decideResponse(s, c.response, c.detail);
    case 'representment_window_passed':
      if (s.status !== 'FILED') return events();
      return events({ type: 'won', won_minor: s.open_minor, detail: 'the merchant did not answer within the representment window' });
    case 'arbitration_window_passed':
      if (s.status !== 'PRE_ARBITRATION') return events();
      return events({
        type: 'attention',
        reason: 'arbitration_overdue',
        detail: 'the network has not ruled within the arbitration window',
      });
    case 'withdraw':
      if (s.status !== 'FILED' && s.status !== 'PRE_ARBITRATION') {
        return refuse(`only a dispute waiting for the merchant or the network can be withdrawn; this one is ${s.status}`);
      }
      return events({ type: 'withdrawn', reversed_minor: s.credited_minor, reason: c.reason });
    case 'refund_overlap': {
      if (!(Number.isSafeInteger(c.covered_minor) && c.covered_minor > 0 && c.covered_minor <= s.open_minor)) {
        return refuse(`covered_minor must be 1..${s.open_minor}, got ${c.covered_minor}`);
      }
      if (s.status !== 'FILED' && s.status !== 'PRE_ARBITRATION') return refuse(`dispute is ${s.status}: a refund no longer reduces it`);
      const reduced: DisputeEvent = { type: 'reduced', covered_minor: c.covered_minor };
      if (c.covered_minor < s.open_minor) return events(reduced);
      // Refunded in full: nothing left to dispute (its credit went back with the reduction).
      return events(reduced, { type: 'withdrawn', reversed_minor: 0, reason: 'the merchant refunded the disputed amount' });
    }
  }
}

function decideResponse(s: DisputeState, response: NetworkResponse, detail: string): DisputeDecision {
  switch (response) {
    case 'merchant_accepted':
      if (s.status !== 'FILED') return refuse(`the merchant answers a filed chargeback; this dispute is ${s.status}`);
      return events({ type: 'won', won_minor: s.open_minor, detail: detail || 'the merchant accepted the chargeback' });
    case 'merchant_represented':
      if (s.status !== 'FILED') return refuse(`the merchant answers a filed chargeback; this dispute is ${s.status}`);
      return events({ type: 'merchant_represented', detail }, { type: 'pre_arbitration_filed' });
    case 'arbitration_won':
    case 'arbitration_lost':
      if (s.status !== 'PRE_ARBITRATION') return refuse(`the network rules on a pre-arbitration; this dispute is ${s.status}`);
      return response === 'arbitration_won'
        ? events({ type: 'won', won_minor: s.open_minor, detail: detail || 'the network ruled for the cardholder' })
        : events({ type: 'lost', reversed_minor: s.credited_minor, detail: detail || 'the network ruled for the merchant' });
  }
}

export function evolve(s: DisputeState, e: DisputeEvent): DisputeState {
  switch (e.type) {
    case 'opened':
      return { ...s, credited_minor: e.credited_minor };
    case 'refused':
      // A refusal after the credit was booked (the network refused the filing) undoes the credit.
      return {
        ...s,
        status: 'REFUSED',
        refusal: e.reason,
        open_minor: 0,
        credited_minor: 0,
        reversed_minor: s.reversed_minor + s.credited_minor,
      };
    case 'chargeback_filed':
      return { ...s, status: 'FILED' };
    case 'merchant_represented':
      return s;
    case 'pre_arbitration_filed':
      return { ...s, status: 'PRE_ARBITRATION' };
    case 'won':
      return { ...s, status: 'WON', won_minor: e.won_minor, credited_minor: 0 };
    case 'lost':
      return { ...s, status: 'LOST', open_minor: 0, credited_minor: 0, reversed_minor: s.reversed_minor + e.reversed_minor };
    case 'withdrawn':
      return { ...s, status: 'WITHDRAWN', open_minor: 0, credited_minor: 0, reversed_minor: s.reversed_minor + e.reversed_minor };
    case 'reduced':
      return {
        ...s,
        open_minor: s.open_minor - e.covered_minor,
        credited_minor: s.credited_minor - e.covered_minor,
        reversed_minor: s.reversed_minor + e.covered_minor,
      };
    case 'attention':
      return { ...s, needs_attention: true };
  }
}

export const evolveAll = (s: DisputeState, list: readonly DisputeEvent[]): DisputeState => list.reduce(evolve, s);
