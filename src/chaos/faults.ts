// The fault injector: plays the plan's schedule against the stack, one fault at a time, each at its
// time (or as soon as the previous one is over), and counts what happened, not what was planned: a
// kill counts only when a live process was signalled, a connection drop only when connections were
// actually terminated. Gateway faults are not scheduled here: the bank simulator draws them per
// request and counts them itself.
import type { ChaosStack } from './stack.js';
import { FAULT_KINDS, countByKind, type FaultKind, type ScheduledFault } from './schedule.js';

export interface FaultLogEntry {
  kind: FaultKind;
  /** The plan's offset from the first payment, and when the fault was actually struck. */
  planned_at_ms: number;
  at_ms: number;
  took_ms: number;
  target: number;
  down_ms: number;
  mode?: ScheduledFault['mode'];
  played: boolean;
  detail: string;
  error?: string;
}

/** Why the faults played are not the faults planned (empty when every planned fault was played):
 * a run with any of these fails, since it did not test what it claims. */
export function unplayedFaults(planned: Record<FaultKind, number>, log: readonly FaultLogEntry[]): string[] {
  const played = countByKind(log.filter((e) => e.played));
  return [
    ...FAULT_KINDS.filter((k) => played[k] !== planned[k]).map((k) => `fault ${k}: planned ${planned[k]}, played ${played[k]}`),
    ...log
      .filter((f) => !f.played)
      .map((f) => `not played at ${(f.at_ms / 1000).toFixed(1)} s: ${f.detail}${f.error ? ` (${f.error})` : ''}`),
  ];
}

export class FaultInjector {
  log: FaultLogEntry[] = [];
  /** Connections terminated by the connection drops, in all. */
  connections_dropped = 0;
  private stopped = false;

  constructor(
    private readonly stack: ChaosStack,
    private readonly say: (msg: string) => void,
  ) {}

  stop(): void {
    this.stopped = true;
  }

  /** Faults that happened, by kind. */
  get played(): Record<FaultKind, number> {
    return countByKind(this.log.filter((e) => e.played));
  }

  /** Runs the whole schedule; `t0` is when the first payment was sent. */
  async run(faults: readonly ScheduledFault[], t0: number): Promise<void> {
    for (const fault of faults) {
      if (!FAULT_KINDS.includes(fault.kind)) throw new Error(`unknown fault kind ${JSON.stringify(fault.kind)}`);
      const wait = t0 + fault.at_ms - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.stopped) return;
      const start = performance.now();
      const entry: FaultLogEntry = {
        kind: fault.kind,
        planned_at_ms: fault.at_ms,
        at_ms: Math.round(start - t0),
        took_ms: 0,
        target: fault.target,
        down_ms: fault.down_ms,
        ...(fault.mode ? { mode: fault.mode } : {}),
        played: false,
        detail: '',
      };
      try {
        switch (fault.kind) {
          case 'worker_kill':
            entry.detail = `SIGKILL worker-${fault.target}, down ${fault.down_ms} ms`;
            entry.played = await this.stack.killWorker(fault.target, fault.down_ms);
            break;
          case 'temporal_kill':
            entry.detail = `SIGKILL Temporal dev server, down ${fault.down_ms} ms, started on the same SQLite file`;
            entry.played = await this.stack.killTemporal(fault.down_ms);
            break;
          case 'api_kill':
            entry.detail = `SIGKILL API, down ${fault.down_ms} ms`;
            entry.played = await this.stack.killApi(fault.down_ms);
            break;
          case 'database_crash': {
            const mode = fault.mode ?? 'sigkill';
            entry.detail = `Postgres ${mode === 'sigkill' ? 'SIGKILL of the postmaster group' : 'immediate shutdown'}, down ${fault.down_ms} ms`;
            entry.played = await this.stack.crashPostgres(fault.down_ms, mode);
            break;
          }
          case 'connection_drop': {
            const n = await this.stack.dropConnections();
            entry.detail = `pg_terminate_backend: ${n} platform connections terminated`;
            entry.played = n > 0;
            this.connections_dropped += n;
            break;
          }
        }
      } catch (err) {
        entry.error = (err as Error).message;
        this.say(`fault ${fault.kind} failed: ${entry.error}`);
      }
      entry.took_ms = Math.round(performance.now() - start);
      this.log.push(entry);
      this.say(`fault at ${(entry.at_ms / 1000).toFixed(1)} s: ${entry.detail} (${entry.took_ms} ms)${entry.played ? '' : ' NOT PLAYED'}`);
    }
  }
}
