// The authorizations this API process has had decided by their payments, for a short while: a
// repeated authorization (the network's retry of one whose answer it did not get, or a client
// retrying after a timeout) is answered from the payment's decision at once, with no call into
// Temporal: no update, no workflow task, no result long poll, no admission slot (DESIGN.md
// section 8, "a repeated request whose result exists is answered from state"; issue 14 point 3).
// Retries are what turned the overload into a storm: each one was a new update on a
// payment that had already decided.
//
// Only decisions the payment made in time are kept (a stand-in answer is the API's, and a repeat
// of it goes to the payment, which has taken the advice). A payment's decision never changes;
// what it holds does (a clearing, a reversal), so an entry lives `ttl_ms` and is dropped when
// this process sends the payment any other message, or answers it a stand-in at the door (whose
// advice may void the approval). A miss (another API process, an evicted entry) costs what it did
// before: the repeat goes to the payment, which answers from its state. Another API process's door
// stand-in is not seen here: for up to ttl_ms a repeat may be answered "approved" by this process
// while that advice voided the hold; the clearing is then a force post (collected all the same).
//
// Pure bookkeeping: no I/O, no clock of its own (callers pass now_ms), so it is tested as a unit.
import type { CardDecision } from '../domain/card.js';

export interface DecidedAuthorization {
  card_id: string;
  amount_minor: number;
  decision: CardDecision;
}

export interface DecidedAuthorizationsLimits {
  /** Entries kept at most; the oldest goes first. */
  entries_max: number;
  /** How long an entry answers repeats. */
  ttl_ms: number;
}

export interface DecidedAuthorizations {
  get(payment_id: string, now_ms?: number): DecidedAuthorization | undefined;
  remember(payment_id: string, decided: DecidedAuthorization, now_ms?: number): void;
  forget(payment_id: string): void;
  readonly size: number;
}

/** 10,000 entries of ~200 bytes: 2 MB. A minute covers a network's retries of one authorization
 * (seconds apart) and the overload that provokes them, and no clearing arrives that soon in
 * practice (an entry is dropped at one anyway). */
export const DECIDED_AUTHORIZATIONS_DEFAULT: Readonly<DecidedAuthorizationsLimits> = { entries_max: 10_000, ttl_ms: 60_000 };

export function createDecidedAuthorizations(limits: DecidedAuthorizationsLimits = DECIDED_AUTHORIZATIONS_DEFAULT): DecidedAuthorizations {
  if (!(Number.isSafeInteger(limits.entries_max) && limits.entries_max >= 1)) {
    throw new Error(`decided authorizations entries_max: must be a positive integer, got ${limits.entries_max}`);
  }
  if (!(Number.isSafeInteger(limits.ttl_ms) && limits.ttl_ms >= 1)) {
    throw new Error(`decided authorizations ttl_ms: must be a positive integer, got ${limits.ttl_ms}`);
  }
  // Insertion order is age order (an entry is re-inserted when remembered again).
  const entries = new Map<string, DecidedAuthorization & { expires_at_ms: number }>();
  return {
    get(payment_id, now_ms = Date.now()) {
      const entry = entries.get(payment_id);
      if (!entry) return undefined;
      if (entry.expires_at_ms <= now_ms) {
        entries.delete(payment_id);
        return undefined;
      }
      const { expires_at_ms: _, ...decided } = entry;
      return decided;
    },
    remember(payment_id, decided, now_ms = Date.now()) {
      if (decided.decision.stand_in) throw new Error('decided authorizations: a stand-in is not the payment’s decision');
      entries.delete(payment_id);
      entries.set(payment_id, { ...decided, expires_at_ms: now_ms + limits.ttl_ms });
      while (entries.size > limits.entries_max) entries.delete(entries.keys().next().value!);
    },
    forget(payment_id) {
      entries.delete(payment_id);
    },
    get size() {
      return entries.size;
    },
  };
}
