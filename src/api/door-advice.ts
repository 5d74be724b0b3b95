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
// The advice is owed durably: the door writes it to Postgres (api.stand_in_advices) and answers at
// once; a relay in every API process delivers what is due and deletes it. An advice held only in
// memory was lost with its process: a chaos run's API, killed with a minute of advices queued
// behind an overload, left a payment holding 130.62 for 7 days for a purchase the network had been
// told was declined (docs/reliability.md, run 6). Now a process that dies leaves its advices to
// the next relay; only the few milliseconds of an insert in flight are at risk (logged, counted).
//
// NOT_FOUND is final only once the authorization's earlier deliveries can no longer start the
// payment (the deadline of the door's answer plus a grace: an earlier delivery's Temporal calls
// end by its own deadline); before that the advice is tried again, so an advice that overtakes
// the start it answers for still lands.
//
// Bounded: at most `inserts_in_flight_max` writes at once (one more is dropped, logged, counted),
// each relay pass claims at most `claim_max` advices for `lease_ms` and signals `in_flight_max`
// at a time; a failed signal is tried again with backoff (up to `backoff_ms_max`) until delivered.
import type { Logger } from 'pino';

export type DoorAdviceOutcome = 'advised' | 'not_started';
export type StandIn = 'decline' | 'approve';

/** An advice owed to a payment. */
export interface OwedAdvice {
  payment_id: string;
  stand_in: StandIn;
  /** Before this, NOT_FOUND may mean "not started yet": tried again. */
  settle_after_ms: number;
  /** Failed deliveries so far. */
  attempts: number;
}

/** Where advices are owed (src/api/stand-in-advices.ts: Postgres). */
export interface StandInAdviceStore {
  /** Records the advice; a payment owed one already keeps the first (the network's stand-in for
   * one authorization does not change between its retries). */
  add(advice: { payment_id: string; stand_in: StandIn; settle_after_ms: number }): Promise<void>;
  /** The due advices, at most `limit`, each leased for `lease_ms` (no other relay takes it then). */
  claim(limit: number, lease_ms: number): Promise<OwedAdvice[]>;
  /** Delivered, or settled as never started: no longer owed. */
  settle(payment_id: string): Promise<void>;
  /** Tried again after `delay_ms`; `failed` counts a failed delivery. */
  retryLater(payment_id: string, delay_ms: number, failed: boolean): Promise<void>;
}

export interface DoorAdviceLimits {
  /** Writes of new advices at once; one more is dropped. */
  inserts_in_flight_max: number;
  /** Signals in flight at once. */
  in_flight_max: number;
  /** Advices one relay pass claims. */
  claim_max: number;
  /** How long a claimed advice is the relay's (longer than a pass of signals). */
  lease_ms: number;
  /** Pause between relay passes that found nothing due. */
  poll_ms: number;
  /** After the door's deadline, NOT_FOUND is final (an earlier delivery's calls are over). */
  settle_grace_ms: number;
  /** First retry delay of a failed signal, doubled per failure up to backoff_ms_max. */
  backoff_ms: number;
  backoff_ms_max: number;
  /** NOT_FOUND before the advice settles: tried again after this. */
  not_found_retry_ms: number;
}

/** 4 signals at once: a signal is one short RPC. 200 writes in flight cover a minute of 3×
 * overload shedding (~15 door stand-ins a second on one API process) with room to spare, as
 * inserts take milliseconds. The grace is the authorization's advice grace and response margin
 * with room to spare (src/api/rpc/payments-service.ts). */
export const DOOR_ADVICE_DEFAULT: Readonly<DoorAdviceLimits> = {
  inserts_in_flight_max: 200,
  in_flight_max: 4,
  claim_max: 32,
  lease_ms: 30_000,
  poll_ms: 250,
  settle_grace_ms: 5_000,
  backoff_ms: 250,
  backoff_ms_max: 10_000,
  not_found_retry_ms: 1_000,
};

export interface DoorAdviceCounts {
  /** Written, to be delivered. */
  owed: number;
  advised: number;
  not_started: number;
  /** Never written (too many writes at once, or the write failed): the payment keeps its hold
   * until it expires, if it has one. */
  dropped: number;
  /** Deliveries that failed and will be tried again. */
  failed_attempts: number;
}

export interface DoorAdvice {
  /** Owes the payment the advice; never throws, never waits. `deadline_at_ms`: the door's answer's. */
  advise(payment_id: string, stand_in: StandIn, deadline_at_ms: number): void;
  /** One relay pass: delivers what is due (the timer runs these; tests call it). */
  relay(): Promise<number>;
  /** Starts the relay's timer (the API process does; unit tests drive `relay` themselves). */
  start(): void;
  /** Stops the timer and waits for the writes and the pass in flight. */
  stop(): Promise<void>;
  readonly counts: Readonly<DoorAdviceCounts>;
}

export function createDoorAdvice(
  send: (payment_id: string, stand_in: StandIn) => Promise<DoorAdviceOutcome>,
  store: StandInAdviceStore,
  limits: DoorAdviceLimits = DOOR_ADVICE_DEFAULT,
  log?: Logger,
  now_ms: () => number = Date.now,
): DoorAdvice {
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isSafeInteger(value) && value >= 1)) throw new Error(`door advice ${name}: must be a positive integer, got ${value}`);
  }
  if (limits.lease_ms <= limits.backoff_ms_max) throw new Error('door advice lease_ms: must be longer than backoff_ms_max');
  const counts: DoorAdviceCounts = { owed: 0, advised: 0, not_started: 0, dropped: 0, failed_attempts: 0 };
  const writes = new Set<Promise<void>>();
  let pass: Promise<number> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const deliver = async (advice: OwedAdvice): Promise<void> => {
    let outcome: DoorAdviceOutcome;
    try {
      outcome = await send(advice.payment_id, advice.stand_in);
    } catch (err) {
      counts.failed_attempts += 1;
      const delay_ms = Math.min(limits.backoff_ms_max, limits.backoff_ms * 2 ** Math.min(advice.attempts, 16));
      log?.warn(
        { payment_id: advice.payment_id, attempts: advice.attempts + 1, err: (err as Error).message },
        'stand-in advice not delivered yet: tried again',
      );
      await store.retryLater(advice.payment_id, delay_ms, true);
      return;
    }
    if (outcome === 'not_started' && now_ms() < advice.settle_after_ms) {
      await store.retryLater(advice.payment_id, limits.not_found_retry_ms, false);
      return;
    }
    counts[outcome] += 1;
    await store.settle(advice.payment_id);
  };

  const runPass = async (): Promise<number> => {
    const due = await store.claim(limits.claim_max, limits.lease_ms);
    if (due.length > limits.claim_max) throw new Error(`door advice: claimed ${due.length}, over ${limits.claim_max}`);
    let next = 0;
    const lane = async () => {
      while (next < due.length) {
        const advice = due[next++]!;
        // A store error here leaves the advice leased: the next pass after the lease takes it.
        await deliver(advice).catch((err: unknown) =>
          log?.error({ payment_id: advice.payment_id, err: (err as Error).message }, 'stand-in advice relay: store failed'),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(limits.in_flight_max, due.length) }, lane));
    return due.length;
  };

  const relay = (): Promise<number> => {
    pass ??= runPass().finally(() => {
      pass = null;
    });
    return pass;
  };

  const schedule = (delay_ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      relay().then(
        // A full pass: more may be due at once.
        (n) => schedule(n >= limits.claim_max ? 0 : limits.poll_ms),
        (err: unknown) => {
          log?.error({ err: (err as Error).message }, 'stand-in advice relay: pass failed, tried again');
          schedule(limits.poll_ms);
        },
      );
    }, delay_ms);
    timer.unref();
  };

  return {
    advise(payment_id, stand_in, deadline_at_ms) {
      if (writes.size >= limits.inserts_in_flight_max) {
        counts.dropped += 1;
        log?.error(
          { payment_id, stand_in },
          'stand-in advice after a door answer dropped (too many writes at once): the payment keeps its hold until it expires',
        );
        return;
      }
      const write: Promise<void> = store
        .add({ payment_id, stand_in, settle_after_ms: deadline_at_ms + limits.settle_grace_ms })
        .then(
          () => {
            counts.owed += 1;
          },
          (err: unknown) => {
            counts.dropped += 1;
            log?.error(
              { payment_id, stand_in, err: (err as Error).message },
              'stand-in advice after a door answer not written: the payment keeps its hold until it expires',
            );
          },
        )
        .finally(() => writes.delete(write));
      writes.add(write);
    },
    relay,
    start() {
      if (timer === null && !stopped) schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.all([...writes]);
      await pass?.catch(() => undefined);
    },
    counts,
  };
}
