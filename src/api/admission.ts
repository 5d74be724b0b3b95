// Admission control at the API's front door (DESIGN.md section 8): each API process bounds the
// calls it has in flight into Temporal, and refuses the excess at once, cheaply, instead of piling
// it onto an engine that is already behind (which is how a burst turns into a retry storm that
// outlives it). Two rules:
//
// - An authorization is admitted only if it can start in time: a free slot now, or one freed
//   before its deadline minus what the engine needs to decide (`authorization_engine_ms`); it
//   never waits past that point. Authorizations may use every slot; other calls leave
//   `authorization_reserve` slots free for them, so clearings and reads cannot crowd out the
//   answers that have a network deadline.
// - Any other call past its bound is refused at once (the caller hears RESOURCE_EXHAUSTED with a
//   retry hint); nothing else waits.
//
// Per payment, at most `payment_in_flight_max` calls are in flight (one workflow's in-flight
// update limit, 10 on the server, must never be what refuses a message).
//
// Pure bookkeeping: no I/O, no clock of its own (callers pass now_ms), so it is tested as a unit.

export interface AdmissionLimits {
  /** Calls into Temporal this process has in flight at once (all kinds). */
  in_flight_max: number;
  /** Slots other calls leave to authorizations. */
  authorization_reserve: number;
  /** Calls in flight on one payment at once. */
  payment_in_flight_max: number;
  /** Authorizations waiting for a slot at once; past it, the stand-in at once. */
  authorization_waiting_max: number;
  /** The least deadline an authorization must have left when it enters the engine. */
  authorization_engine_ms: number;
  /** What a refused caller is told to wait before retrying (jittered up to twice this). */
  retry_after_ms: number;
}

export type Refusal = 'saturated' | 'payment_busy' | 'deadline';

export type Admitted = { admitted: true; release(): void };
export type Refused = { admitted: false; reason: Refusal; retry_after_ms: number };
export type Admission = Admitted | Refused;

export interface AdmissionControl {
  /** Admits an authorization now, or once a slot frees before it would be too late. */
  authorization(payment_id: string, deadline_at_ms: number, now_ms?: number): Promise<Admission>;
  /** Admits any other call into Temporal now, or refuses it. `payment_id` null: not about one payment. */
  call(payment_id: string | null): Admission;
  readonly in_flight: number;
  readonly waiting: number;
  readonly limits: Readonly<AdmissionLimits>;
}

function assertLimits(limits: AdmissionLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`admission ${name}: must be a non-negative integer, got ${value}`);
  }
  if (limits.in_flight_max < 1) throw new Error('admission in_flight_max: must be at least 1');
  if (limits.authorization_reserve >= limits.in_flight_max) {
    throw new Error('admission authorization_reserve: must be smaller than in_flight_max (other calls need a slot)');
  }
  if (limits.payment_in_flight_max < 1) throw new Error('admission payment_in_flight_max: must be at least 1');
}

interface Waiter {
  payment_id: string;
  grant(admission: Admission): void;
  timer: NodeJS.Timeout;
}

export function createAdmissionControl(limits: AdmissionLimits, random: () => number = Math.random): AdmissionControl {
  assertLimits(limits);
  let in_flight = 0;
  const per_payment = new Map<string, number>();
  // FIFO: the oldest waiter has the earliest deadline in practice (deadlines are ~2 s for all).
  const waiters: Waiter[] = [];

  const retryAfter = () => limits.retry_after_ms + Math.floor(random() * (limits.retry_after_ms + 1));
  const refused = (reason: Refusal): Refused => ({ admitted: false, reason, retry_after_ms: retryAfter() });
  const paymentBusy = (payment_id: string | null) =>
    payment_id !== null && (per_payment.get(payment_id) ?? 0) >= limits.payment_in_flight_max;

  const take = (payment_id: string | null): Admitted => {
    in_flight += 1;
    if (payment_id !== null) per_payment.set(payment_id, (per_payment.get(payment_id) ?? 0) + 1);
    let released = false;
    return {
      admitted: true,
      release() {
        if (released) return; // idempotent: a finally and an error path may both release
        released = true;
        in_flight -= 1;
        if (payment_id !== null) {
          const n = (per_payment.get(payment_id) ?? 1) - 1;
          if (n === 0) per_payment.delete(payment_id);
          else per_payment.set(payment_id, n);
        }
        if (in_flight < 0) throw new Error('admission: released more than admitted');
        handOver();
      },
    };
  };

  /** A slot freed: the first waiter whose payment has room gets it. */
  const handOver = () => {
    for (let i = 0; i < waiters.length && in_flight < limits.in_flight_max;) {
      const waiter = waiters[i]!;
      if (paymentBusy(waiter.payment_id)) {
        i += 1;
        continue;
      }
      waiters.splice(i, 1);
      clearTimeout(waiter.timer);
      waiter.grant(take(waiter.payment_id));
    }
  };

  return {
    async authorization(payment_id, deadline_at_ms, now_ms = Date.now()) {
      // The latest moment the authorization may still enter the engine.
      const start_by_ms = deadline_at_ms - limits.authorization_engine_ms;
      if (start_by_ms <= now_ms) return refused('deadline');
      if (paymentBusy(payment_id)) return refused('payment_busy');
      if (in_flight < limits.in_flight_max && waiters.length === 0) return take(payment_id);
      if (waiters.length >= limits.authorization_waiting_max) return refused('saturated');
      return new Promise<Admission>((resolve) => {
        const waiter: Waiter = {
          payment_id,
          grant: resolve,
          timer: setTimeout(() => {
            const index = waiters.indexOf(waiter);
            if (index >= 0) waiters.splice(index, 1);
            resolve(refused('saturated'));
          }, start_by_ms - now_ms),
        };
        waiters.push(waiter);
      });
    },

    call(payment_id) {
      if (paymentBusy(payment_id)) return refused('payment_busy');
      // Waiting authorizations go first: a freed slot is theirs.
      if (in_flight >= limits.in_flight_max - limits.authorization_reserve || waiters.length > 0) return refused('saturated');
      return take(payment_id);
    },

    get in_flight() {
      return in_flight;
    },
    get waiting() {
      return waiters.length;
    },
    limits,
  };
}
