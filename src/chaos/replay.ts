// Reproducing a chaos run: the run writes its fault log — every scheduled fault as it was struck
// (offset from the first payment, target, downtime, crash mode) — and the bank simulator's
// random draws, in order. `npm run chaos -- --replay LOG` runs the same seed's payments and plays
// the same faults at the same offsets, and the bank answers from the same draws in the same order.
// What it cannot fix is which request meets which draw, or where in a payment's life a kill lands:
// that depends on the machine's timing.
import { readFileSync, writeFileSync } from 'node:fs';
import { FAULT_KINDS, type ScheduledFault } from './schedule.js';
import type { FaultLogEntry } from './faults.js';

export const FAULT_LOG_VERSION = 1;
/** Bank draws a log keeps (a 20,000-payment run makes about 100,000). */
export const BANK_DRAWS_MAX = 2_000_000;

export interface FaultLog {
  version: number;
  seed: number;
  payments: number;
  rate_per_s: number;
  workers: number;
  faults: ScheduledFault[];
  bank_draws: number[];
}

/** Records the bank's draws from `source`; when replaying, answers from `recorded` first. */
export class BankDraws {
  readonly drawn: number[] = [];
  replayed = 0;

  constructor(
    private readonly source: () => number,
    private readonly recorded: readonly number[] = [],
  ) {}

  readonly next = (): number => {
    const value = this.replayed < this.recorded.length ? this.recorded[this.replayed++]! : this.source();
    if (this.drawn.length < BANK_DRAWS_MAX) this.drawn.push(value);
    return value;
  };
}

export function faultLog(
  run: { seed: number; payments: number; rate_per_s: number; workers: number },
  played: readonly FaultLogEntry[],
  bank: BankDraws,
): FaultLog {
  return {
    version: FAULT_LOG_VERSION,
    ...run,
    faults: played.map((f) => ({
      kind: f.kind,
      at_ms: f.at_ms,
      target: f.target,
      down_ms: f.down_ms,
      ...(f.mode ? { mode: f.mode } : {}),
    })),
    bank_draws: bank.drawn,
  };
}

export function writeFaultLog(file: string, log: FaultLog): void {
  writeFileSync(file, `${JSON.stringify(log)}\n`);
}

/** Reads and checks a fault log; a malformed one is refused with the reason. */
export function readFaultLog(file: string): FaultLog {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`fault log ${file}: ${(err as Error).message}`);
  }
  const log = json as FaultLog;
  const fail = (why: string): never => {
    throw new Error(`fault log ${file}: ${why}`);
  };
  if (typeof log !== 'object' || log === null) fail('not an object');
  if (log.version !== FAULT_LOG_VERSION) fail(`version ${String(log.version)}, this program reads ${FAULT_LOG_VERSION}`);
  for (const k of ['seed', 'payments', 'rate_per_s', 'workers'] as const) {
    if (!Number.isSafeInteger(log[k]) || log[k] < 0) fail(`${k} must be a non-negative integer`);
  }
  if (!Array.isArray(log.faults)) fail('faults must be an array');
  for (const [i, f] of log.faults.entries()) {
    if (!FAULT_KINDS.includes(f.kind)) fail(`faults[${i}].kind ${JSON.stringify(f.kind)} is not one of ${FAULT_KINDS.join(', ')}`);
    for (const k of ['at_ms', 'target', 'down_ms'] as const) {
      if (!Number.isSafeInteger(f[k]) || f[k] < 0) fail(`faults[${i}].${k} must be a non-negative integer`);
    }
    if (f.mode !== undefined && f.mode !== 'sigkill' && f.mode !== 'immediate') fail(`faults[${i}].mode ${JSON.stringify(f.mode)}`);
  }
  if (!Array.isArray(log.bank_draws) || log.bank_draws.length > BANK_DRAWS_MAX)
    fail(`bank_draws must be an array of at most ${BANK_DRAWS_MAX}`);
  if (!log.bank_draws.every((d) => typeof d === 'number' && d >= 0 && d < 1)) fail('bank_draws must be numbers in [0, 1)');
  return log;
}
