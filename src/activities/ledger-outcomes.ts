// How activities read the ledger's answers: one reading of a refusal, one failure for an answer a
// step never expects, one way to chain transfers. Shared by the card and dispute activities.
import { ApplicationFailure } from '@temporalio/common';
import { TransferFlags, isSuccess } from '../domain/ledger.js';
import type { TransferInput, TransferOutcome } from '../ledger/ledger.js';

/** The refusal itself, also when a retry answers `id_already_failed` with the first one. */
export function refusalOf(outcome: TransferOutcome): string {
  return outcome.result === 'id_already_failed' ? (outcome.first_result ?? outcome.result) : outcome.result;
}

/** A ledger answer the saga never expects: a bug or a tampered ledger. Retrying cannot help. */
export function unexpected(step: string, outcomes: TransferOutcome[]): ApplicationFailure {
  const detail = outcomes.map((o) => `${o.id} ${o.result}${o.first_result ? ` (${o.first_result})` : ''}`).join(', ');
  return ApplicationFailure.nonRetryable(`${step}: ledger answered ${detail}`, 'LedgerUnexpectedResult');
}

/** The transfers as one linked chain: all succeed or none (the last one closes the chain). */
export function linkedChain(chain: TransferInput[]): TransferInput[] {
  return chain.map((t, k) => ({
    ...t,
    flags: k < chain.length - 1 ? (t.flags ?? 0) | TransferFlags.linked : (t.flags ?? 0) & ~TransferFlags.linked,
  }));
}

/** A chain's own refusal (not its neighbours' `linked_event_failed`), if any. */
export function chainFailure(outcomes: TransferOutcome[]): TransferOutcome | undefined {
  return outcomes.find((o) => !isSuccess(o.result) && o.result !== 'linked_event_failed');
}
