// The chaos run's overload phase (issue 14 point 7): for a minute, card purchases (authorize with
// the network's 2 s deadline, then clear) arrive on top of the run's own mix at three times what
// the platform sustains, while the faults go on. The run must still pass every check (nothing lost
// or booked twice, every payment final, the ledger reconciled), the engine's own limits must never
// be what refused work (the API sheds first), and the run must finish within OVERLOAD_DRAIN_S_MAX
// of its last send: an overload that outlives its cause (the 25-minute retry storm, where
// a quiet run drains in seconds) fails the run.
//
// The rate comes from --overload-rate, or from a quick capacity probe before the run's load starts:
// purchases in a closed loop (PROBE_CONCURRENCY at a time) for --overload-probe-s seconds.
// Overload and probe purchases are payments of the run like any other (checked and reconciled),
// but not counted for path coverage or the stand-in share: they exist to be stood in.
import type { Driver, PaymentRecord } from './driver.js';

/** Three times the sustainable rate: the overload. */
export const OVERLOAD_FACTOR = 3;
export const OVERLOAD_SECONDS_DEFAULT = 60;
/** Runs of this many payments or more get the overload phase unless --no-overload. */
export const OVERLOAD_ON_FROM_PAYMENTS = 1_000;
/** The phase starts this far into the run's sending window (after the first of every path). */
export const OVERLOAD_START_SHARE = 0.25;
/** The network's deadline of an overload authorization. */
export const OVERLOAD_AUTHORIZATION_TIMEOUT_MS = 2_000;
export const PROBE_SECONDS_DEFAULT = 15;
/** Purchases in flight during the probe: enough to keep two cores busy, as bench:overload's. */
export const PROBE_CONCURRENCY = 8;
/** A run with the overload phase finishes at most this long after its last send. A quiet run's
 * drain is the late bank callbacks (4–8 s) and the retries after the last fault, well under a
 * minute; twice that, because the overload's own purchases are still being cleared. */
export const OVERLOAD_DRAIN_S_MAX = 120;
/** With a quiet run of the same plan to compare with (--baseline), the overload run must finish
 * its work (last send + drain) within this factor of the quiet run's: the issue's retry storm
 * took three times as long as the quiet run; an overload that costs the run a quarter more than
 * its own purchases' shedding is one that outlived itself. */
export const OVERLOAD_FINISH_FACTOR_MAX = 1.25;

/** What --baseline reads of a quiet run's result: its plan, to refuse a run of another, and when
 * it finished its work. */
export interface QuietBaseline {
  file: string;
  seed: number;
  payments: number;
  rate_per_s: number;
  finish_s: number;
}

/** The quiet run's figures, or a clear error: a baseline of another plan, of an overload run, or
 * of a result file that predates finish_s compares nothing. */
export function parseQuietBaseline(
  file: string,
  json: unknown,
  plan: { seed: number; payments: number; rate_per_s: number },
): QuietBaseline {
  const r = json as Record<string, unknown> | null;
  if (!r || typeof r !== 'object') throw new Error(`--baseline ${file}: not a chaos result`);
  if (r.overload !== null) throw new Error(`--baseline ${file}: a run with the overload phase is no quiet baseline`);
  for (const key of ['seed', 'payments', 'rate_per_s'] as const) {
    if (r[key] !== plan[key]) throw new Error(`--baseline ${file}: ${key} ${String(r[key])}, this run's is ${plan[key]}: another plan`);
  }
  const finish_s = r.finish_s;
  if (typeof finish_s !== 'number' || !(finish_s > 0))
    throw new Error(`--baseline ${file}: no finish_s (a result from before it was reported)`);
  return { file, seed: plan.seed, payments: plan.payments, rate_per_s: plan.rate_per_s, finish_s };
}

/** On when asked (--overload / --no-overload), else in long runs. */
export function overloadEnabled(flag: boolean | undefined, payments: number): boolean {
  return flag ?? payments >= OVERLOAD_ON_FROM_PAYMENTS;
}

/** The overload's arrival rate from the measured capacity (purchases per second), at least 1/s. */
export function overloadRatePerS(capacity_per_s: number): number {
  if (!(Number.isFinite(capacity_per_s) && capacity_per_s >= 0)) throw new Error(`capacity must be a rate, got ${capacity_per_s}`);
  return Math.max(1, Math.round(OVERLOAD_FACTOR * capacity_per_s * 10) / 10);
}

export interface ProbeResult {
  seconds: number;
  purchases: number;
  capacity_per_s: number;
}

/** Closed loop: PROBE_CONCURRENCY purchases at a time, each the next as soon as one finishes;
 * none starts after `seconds`, and the rate is what finished over the time until the last did (a
 * machine so slow that a purchase outlasts the probe still measures a rate, not zero). */
export async function probeCapacity(
  driver: Driver,
  nextRecord: () => PaymentRecord,
  seconds: number,
  concurrency = PROBE_CONCURRENCY,
): Promise<ProbeResult> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let completed = 0;
  const loop = async () => {
    while (performance.now() < until) {
      const record = nextRecord();
      await driver.run(record);
      if (record.error === null) completed += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed_s = (performance.now() - started) / 1000;
  return { seconds: Math.round(elapsed_s), purchases: completed, capacity_per_s: Math.round((completed / elapsed_s) * 100) / 100 };
}

/** Open loop: one purchase every 1/rate s for `seconds`, whatever the answers' speed. */
export async function runOverload(
  driver: Driver,
  nextRecord: () => PaymentRecord,
  rate_per_s: number,
  seconds: number,
  paths: Promise<void>[],
): Promise<void> {
  const started = performance.now();
  const n = Math.round(rate_per_s * seconds);
  for (let i = 0; i < n; i++) {
    const wait = started + (i * 1000) / rate_per_s - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    paths.push(driver.run(nextRecord()));
  }
}

export interface OverloadReport {
  rate_per_s: number;
  seconds: number;
  payments: number;
  /** Acknowledged authorizations answered within the network's deadline (first attempt's answer). */
  answered_in_deadline_ratio: number;
  stand_in_ratio: number;
  /** The engine's own refusals in the API's and workers' logs over the whole run; must be 0. */
  engine_rejections: number;
  /** From the last send to the last change of any payment (its timeline's newest entry, stamped
   * by the platform); at most OVERLOAD_DRAIN_S_MAX. */
  drain_s: number;
  drain_s_max: number;
  /** The checker's read of every payment after the drain (not part of it: its own work). */
  final_read_s: number;
  /** From the run's start to the last change of a payment: last send + drain. */
  finish_s: number;
  /** The quiet run compared with (--baseline), and the bound it sets; null: drain_s_max applies. */
  baseline: { file: string; finish_s: number; finish_s_max: number } | null;
}

export function overloadReport(
  records: readonly PaymentRecord[],
  input: {
    rate_per_s: number;
    seconds: number;
    engine_rejections: number;
    drain_s: number;
    final_read_s: number;
    finish_s: number;
    baseline: QuietBaseline | null;
  },
): { report: OverloadReport; problems: string[] } {
  const mine = records.filter((r) => r.phase === 'overload');
  const authorized = mine.filter((r) => r.acked.some((a) => a.call === 'authorize'));
  const inDeadline = authorized.filter((r) => r.acked.find((a) => a.call === 'authorize')!.attempts === 1).length;
  const ratio = (n: number, of: number) => (of === 0 ? 1 : Math.round((n / of) * 1000) / 1000);
  const report: OverloadReport = {
    rate_per_s: input.rate_per_s,
    seconds: input.seconds,
    payments: mine.length,
    answered_in_deadline_ratio: ratio(inDeadline, authorized.length),
    stand_in_ratio: ratio(authorized.filter((r) => r.stand_in).length, authorized.length),
    engine_rejections: input.engine_rejections,
    drain_s: Math.round(input.drain_s),
    drain_s_max: OVERLOAD_DRAIN_S_MAX,
    final_read_s: Math.round(input.final_read_s),
    finish_s: Math.round(input.finish_s),
    baseline: input.baseline
      ? {
          file: input.baseline.file,
          finish_s: input.baseline.finish_s,
          finish_s_max: Math.round(input.baseline.finish_s * OVERLOAD_FINISH_FACTOR_MAX),
        }
      : null,
  };
  const problems: string[] = [];
  if (input.engine_rejections > 0)
    problems.push(`the engine's own limits refused work ${input.engine_rejections} times: the platform must shed before them`);
  if (input.baseline) {
    const finish_s_max = input.baseline.finish_s * OVERLOAD_FINISH_FACTOR_MAX;
    if (input.finish_s > finish_s_max)
      problems.push(
        `the run finished its work ${Math.round(input.finish_s)} s after its start, over ${OVERLOAD_FINISH_FACTOR_MAX}x the quiet run's ${input.baseline.finish_s} s (${input.baseline.file}): the overload outlived itself`,
      );
  } else if (input.drain_s > OVERLOAD_DRAIN_S_MAX)
    problems.push(
      `the run's payments last changed ${Math.round(input.drain_s)} s after its last send, over ${OVERLOAD_DRAIN_S_MAX} s: the overload outlived itself`,
    );
  return { report, problems };
}

/** When the platform last changed any of the run's payments: the newest timeline entry of the
 * states the checker read (the workflows stamp them). The drain ends there, not when the checker
 * has read them all: its read of every payment is its own work (run 4 of seed 1204 spent 160 of
 * its 203 s of "drain" reading 3,832 payments). Null when no state has a timeline. */
export function lastPaymentChangeAtMs(records: readonly PaymentRecord[]): number | null {
  let last_ms: number | null = null;
  for (const record of records) {
    for (const entry of record.state?.timeline ?? []) {
      const at_ms = Date.parse(entry.at);
      if (!Number.isFinite(at_ms)) throw new Error(`payment ${record.payment_id}: a timeline entry's time is not a time: ${entry.at}`);
      if (last_ms === null || at_ms > last_ms) last_ms = at_ms;
    }
  }
  return last_ms;
}
