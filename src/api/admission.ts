// Admission control at the API's front door (DESIGN.md section 8): each API process bounds the
// calls it has in flight into Temporal, and refuses the excess at once, cheaply, instead of piling
// it onto an engine that is already behind (which is how a burst turns into a retry storm that
// outlives it). Two rules:
//
// - An authorization is admitted only if it can start in time: a free slot now, or one freed
//   before its deadline minus what the engine needs to decide (`authorization_engine_ms`); it
//   never waits past that point. Authorizations may use every slot of the bound; other calls
//   have their own share, the bound less `authorization_reserve_percent`, counted among other
//   calls only, so clearings and reads cannot crowd out the answers that have a network deadline,
//   and a steady stream of authorizations cannot starve the clearings either (they release holds
//   and settle money; a share that is theirs is work the platform must keep doing). While other
//   calls leave their share idle, authorizations borrow it; other calls then take their share
//   back at once, so the calls in flight may exceed the bound by at most that share.
// - Any other call past its bound is refused at once (the caller hears RESOURCE_EXHAUSTED with a
//   retry hint); nothing else waits.
//
// Per payment, at most `payment_in_flight_max` calls are in flight (one workflow's in-flight
// update limit, 10 on the server, must never be what refuses a message).
//
// The bound adapts (AIMD, as TCP's window): `in_flight_max` is a ceiling; the bound in force
// starts at `in_flight_initial`, grows by one per bound's worth of calls answered within
// `authorization_latency_target_ms`, and halves (at most once per target interval) when more
// than `slow_answers_percent_max` of a round of answers (one bound's worth) are slower. A share,
// not one slow answer: under continual faults (a chaos run kills a worker every 10 s) 5-10 % of
// the answers are slow whatever the load — the calls that meet a killed worker's payments — and
// halving on each of them held the bound at its floor with the CPU not full; the backlog of a
// 20,000-payment run grew for half an hour (docs/reliability.md, item 10). Under overload nearly
// every answer is slow, and the round's share is crossed within its first few answers, so the
// bound still falls at once. Every admitted call steers it, not only authorizations: a bound steered by
// authorizations alone stayed at its floor once they stopped coming, and through a chaos run's
// drain clearings and payouts were refused as "saturated" for minutes, with one call in flight
// on an idle engine (docs/reliability.md, run 1 of seed 1204). In-flight work is rate times
// latency: a fixed bound sized for a quiet
// machine admits seconds of queue on a busy one, and that queue is what misses deadlines and
// lingers after the burst. And what "the engine needs" is measured: an authorization is admitted
// only with at least max(authorization_engine_ms, twice the recent answer time, capped at the
// target) left.
//
// Pure bookkeeping: no I/O, no clock of its own (callers pass now_ms), so it is tested as a unit.

export interface AdmissionLimits {
  /** Ceiling of the adaptive bound on calls into Temporal this process has in flight (all kinds). */
  in_flight_max: number;
  /** The adaptive bound's floor and starting point. */
  in_flight_min: number;
  in_flight_initial: number;
  /** Authorization answer time (admission to answer) the adaptive bound steers under. */
  authorization_latency_target_ms: number;
  /** Share of a round of answers (one bound's worth) that may be slower than the target before
   * the bound halves, in percent. */
  slow_answers_percent_max: number;
  /** Share of the bound in force that other calls leave to authorizations, in percent. */
  authorization_reserve_percent: number;
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
  /** Reports an admitted authorization's answer time (admission to answer, or to giving up). */
  observeAuthorization(latency_ms: number, now_ms?: number): void;
  /** Reports an admitted other call's answer time (a failure the engine caused counts as slow):
   * it steers the bound as an authorization's does, but not the engine time authorizations need. */
  observeCall(latency_ms: number, now_ms?: number): void;
  /** The bound in force (adaptive, between in_flight_min and in_flight_max). */
  readonly bound: number;
  /** The answer time the admission currently assumes for an authorization. */
  readonly engine_ms: number;
  readonly in_flight: number;
  readonly waiting: number;
  readonly limits: Readonly<AdmissionLimits>;
}

function assertLimits(limits: AdmissionLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`admission ${name}: must be a non-negative integer, got ${value}`);
  }
  if (limits.in_flight_min < 1) throw new Error('admission in_flight_min: must be at least 1');
  if (!(limits.in_flight_min <= limits.in_flight_initial && limits.in_flight_initial <= limits.in_flight_max)) {
    throw new Error('admission in_flight_initial: must be within in_flight_min .. in_flight_max');
  }
  if (limits.authorization_reserve_percent > 90)
    throw new Error('admission authorization_reserve_percent: at most 90 (other calls need a share)');
  if (limits.authorization_latency_target_ms < 1) throw new Error('admission authorization_latency_target_ms: must be at least 1');
  if (limits.payment_in_flight_max < 1) throw new Error('admission payment_in_flight_max: must be at least 1');
  if (limits.slow_answers_percent_max > 90)
    throw new Error('admission slow_answers_percent_max: at most 90 (an overloaded engine must still shrink the bound)');
}

/** The bound's multiplicative decrease on a slow answer: halved, as TCP does. A gentler step kept
 * admitting authorizations that went late for a minute after an overload (each one's late path —
 * the stand-in advice, the void — is more work queued ahead of the next). */
const BOUND_DECREASE_FACTOR = 0.5;

interface Waiter {
  payment_id: string;
  grant(admission: Admission): void;
  timer: NodeJS.Timeout;
}

export function createAdmissionControl(limits: AdmissionLimits, random: () => number = Math.random): AdmissionControl {
  assertLimits(limits);
  let in_flight = 0;
  /** Of in_flight, the calls that are not authorizations. */
  let others_in_flight = 0;
  let bound = limits.in_flight_initial;
  let decreased_at_ms = Number.NEGATIVE_INFINITY;
  /** The round of answers being counted: one bound's worth, then judged and started again. */
  let round_answers = 0;
  let round_slow = 0;
  /** Recent authorization answer time, exponentially weighted (a fifth per answer). */
  let answer_ms_ewma = 0;
  const slots = () => Math.floor(bound);
  const per_payment = new Map<string, number>();
  // FIFO: the oldest waiter has the earliest deadline in practice (deadlines are ~2 s for all).
  const waiters: Waiter[] = [];

  // Twice the recent answer time, but never more than the target: past it the bound shrinks
  // instead, and some authorizations must still be admitted for the estimate to recover.
  const engineMs = () =>
    Math.max(limits.authorization_engine_ms, Math.min(limits.authorization_latency_target_ms, Math.round(2 * answer_ms_ewma)));
  const retryAfter = () => limits.retry_after_ms + Math.floor(random() * (limits.retry_after_ms + 1));
  const refused = (reason: Refusal): Refused => ({ admitted: false, reason, retry_after_ms: retryAfter() });
  const paymentBusy = (payment_id: string | null) =>
    payment_id !== null && (per_payment.get(payment_id) ?? 0) >= limits.payment_in_flight_max;

  const take = (payment_id: string | null, kind: 'authorization' | 'other'): Admitted => {
    in_flight += 1;
    if (kind === 'other') others_in_flight += 1;
    if (payment_id !== null) per_payment.set(payment_id, (per_payment.get(payment_id) ?? 0) + 1);
    let released = false;
    return {
      admitted: true,
      release() {
        if (released) return; // idempotent: a finally and an error path may both release
        released = true;
        in_flight -= 1;
        if (kind === 'other') others_in_flight -= 1;
        if (payment_id !== null) {
          const n = (per_payment.get(payment_id) ?? 1) - 1;
          if (n === 0) per_payment.delete(payment_id);
          else per_payment.set(payment_id, n);
        }
        if (in_flight < 0 || others_in_flight < 0) throw new Error('admission: released more than admitted');
        handOver();
      },
    };
  };

  /** A slot freed: the first waiter whose payment has room gets it. */
  const handOver = () => {
    for (let i = 0; i < waiters.length && in_flight < slots();) {
      const waiter = waiters[i]!;
      if (paymentBusy(waiter.payment_id)) {
        i += 1;
        continue;
      }
      waiters.splice(i, 1);
      clearTimeout(waiter.timer);
      waiter.grant(take(waiter.payment_id, 'authorization'));
    }
  };

  /** AIMD: one more slot per bound's worth of answers within the target; halved once a round's
   * slow answers pass their share (judged as soon as they do, not at the round's end). */
  const steer = (latency_ms: number, now_ms: number) => {
    const round_size = slots();
    round_answers += 1;
    if (latency_ms <= limits.authorization_latency_target_ms) {
      bound = Math.min(limits.in_flight_max, bound + 1 / bound);
      handOver();
    } else {
      round_slow += 1;
    }
    const share_crossed = round_slow * 100 > round_size * limits.slow_answers_percent_max;
    // Once per target interval: the answers of one slow spell all arrive late together.
    if (share_crossed && now_ms - decreased_at_ms >= limits.authorization_latency_target_ms) {
      decreased_at_ms = now_ms;
      bound = Math.max(limits.in_flight_min, bound * BOUND_DECREASE_FACTOR);
    }
    if (share_crossed || round_answers >= round_size) {
      round_answers = 0;
      round_slow = 0;
    }
    if (!(bound >= limits.in_flight_min && bound <= limits.in_flight_max)) throw new Error(`admission: bound ${bound} out of its range`);
    if (!(round_slow <= round_answers && round_answers < round_size)) throw new Error('admission: round counts out of range');
  };

  return {
    async authorization(payment_id, deadline_at_ms, now_ms = Date.now()) {
      // The latest moment the authorization may still enter the engine.
      const start_by_ms = deadline_at_ms - engineMs();
      if (start_by_ms <= now_ms) return refused('deadline');
      if (paymentBusy(payment_id)) return refused('payment_busy');
      if (in_flight < slots() && waiters.length === 0) return take(payment_id, 'authorization');
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
      // Their own share, whatever the authorizations hold (see the head of this file). Counting
      // every call in flight here, and refusing while any authorization waited, refused every
      // clearing of a chaos run whose authorizations kept the bound busy: their payments never
      // finished and their clients retried for ever (test/unit/admission.test.ts).
      const others_slots = Math.max(1, Math.floor((slots() * (100 - limits.authorization_reserve_percent)) / 100));
      if (others_in_flight >= others_slots) return refused('saturated');
      return take(payment_id, 'other');
    },

    observeAuthorization(latency_ms, now_ms = Date.now()) {
      if (!(latency_ms >= 0)) throw new Error(`admission: latency ${latency_ms}`);
      answer_ms_ewma = answer_ms_ewma === 0 ? latency_ms : answer_ms_ewma + (latency_ms - answer_ms_ewma) / 5;
      steer(latency_ms, now_ms);
    },
    observeCall(latency_ms, now_ms = Date.now()) {
      if (!(latency_ms >= 0)) throw new Error(`admission: latency ${latency_ms}`);
      steer(latency_ms, now_ms);
    },
    get bound() {
      return slots();
    },
    get engine_ms() {
      return engineMs();
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
