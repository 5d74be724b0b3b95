// The stand-in answered at the door (src/api/admission.ts) told the network "declined" (or
// "approved") without asking the payment. For a first delivery that is the whole story: nothing
// reached Temporal. But the network's retry of an authorization whose answer it never got (the
// API process died, the connection broke) finds a payment that may have decided already: a chaos
// run's payment held 153.58 for an authorization the door had answered "declined" 18 s after the
// payment approved it. So every door stand-in is followed by the stand-in advice to the payment,
// if it exists: a plain signal (never a start: a first delivery creates nothing), whose NOT_FOUND
// means nothing reached Temporal. The payment then follows the network's answer as it does for a
// late decision (a decline voids its hold, an approval after a decline is flagged).
//
// The advice runs after the answer, in the background, bounded: the door's answer stays cheap and
// immediate, and under overload at most `in_flight_max` signals run at once and `pending_max`
// wait; past that an advice is dropped, counted and logged, and the payment's hold expires by
// itself (the hold expiry of DESIGN.md section 2) if it had one. A process that dies with advices
// pending loses them the same way.
import type { Logger } from 'pino';

export type DoorAdviceOutcome = 'advised' | 'not_started';

export interface DoorAdviceLimits {
  /** Signals in flight at once. */
  in_flight_max: number;
  /** Advices waiting for a signal slot; one more is dropped. */
  pending_max: number;
  /** Tries per advice (a failed signal is tried again after `backoff_ms` × attempt). */
  attempts_max: number;
  backoff_ms: number;
}

/** 4 at once: a signal is one short RPC; 1,000 waiting covers a minute of 3× overload shedding
 * on one API process (~15 door stand-ins a second) with room to spare; 5 tries over ~2.5 s ride
 * out a Temporal restart's first seconds without holding a slot for long. */
export const DOOR_ADVICE_DEFAULT: Readonly<DoorAdviceLimits> = { in_flight_max: 4, pending_max: 1_000, attempts_max: 5, backoff_ms: 250 };

export interface DoorAdviceCounts {
  advised: number;
  not_started: number;
  dropped: number;
  failed: number;
}

export interface DoorAdvice {
  /** Queues the advice; never throws, never waits. */
  advise(payment_id: string, stand_in: 'decline' | 'approve'): void;
  /** Resolves when nothing is pending or in flight (tests, shutdown). */
  idle(): Promise<void>;
  readonly counts: Readonly<DoorAdviceCounts>;
}

export function createDoorAdvice(
  send: (payment_id: string, stand_in: 'decline' | 'approve') => Promise<DoorAdviceOutcome>,
  limits: DoorAdviceLimits = DOOR_ADVICE_DEFAULT,
  log?: Logger,
): DoorAdvice {
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isSafeInteger(value) && value >= 1)) throw new Error(`door advice ${name}: must be a positive integer, got ${value}`);
  }
  const pending: Array<{ payment_id: string; stand_in: 'decline' | 'approve' }> = [];
  const counts: DoorAdviceCounts = { advised: 0, not_started: 0, dropped: 0, failed: 0 };
  let in_flight = 0;
  let idleWaiters: Array<() => void> = [];

  const deliver = async (payment_id: string, stand_in: 'decline' | 'approve'): Promise<void> => {
    for (let attempt = 1; attempt <= limits.attempts_max; attempt += 1) {
      try {
        counts[await send(payment_id, stand_in)] += 1;
        return;
      } catch (err) {
        if (attempt === limits.attempts_max) {
          counts.failed += 1;
          log?.error(
            { payment_id, stand_in, err: (err as Error).message },
            'stand-in advice after a door answer not delivered: the payment keeps its hold until it expires',
          );
          return;
        }
        await new Promise((r) => setTimeout(r, limits.backoff_ms * attempt));
      }
    }
  };

  const pump = () => {
    while (in_flight < limits.in_flight_max && pending.length > 0) {
      const next = pending.shift()!;
      in_flight += 1;
      void deliver(next.payment_id, next.stand_in).finally(() => {
        in_flight -= 1;
        pump();
      });
    }
    if (in_flight === 0 && pending.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  return {
    advise(payment_id, stand_in) {
      if (pending.length >= limits.pending_max) {
        counts.dropped += 1;
        log?.error(
          { payment_id, stand_in },
          'stand-in advice after a door answer dropped (queue full): the payment keeps its hold until it expires',
        );
        return;
      }
      pending.push({ payment_id, stand_in });
      pump();
    },
    idle() {
      if (in_flight === 0 && pending.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    counts,
  };
}
