// The fault injector: plays the plan's schedule against the stack, one fault at a time, each at its
// time (or as soon as the previous one is over), and counts what it did. Gateway faults are not
// scheduled here: the bank simulator draws them per request from the seed's rates.
import type { ChaosStack } from './stack.js';
import type { FaultKind, ScheduledFault } from './schedule.js';

export interface FaultCounts {
  worker_kills: number;
  temporal_restarts: number;
  api_restarts: number;
  database_restarts: number;
  connection_drops: number;
  connections_dropped: number;
}

export interface FaultLogEntry {
  kind: FaultKind;
  planned_at_ms: number;
  at_ms: number;
  took_ms: number;
  detail: string;
  error?: string;
}

export class FaultInjector {
  counts: FaultCounts = {
    worker_kills: 0,
    temporal_restarts: 0,
    api_restarts: 0,
    database_restarts: 0,
    connection_drops: 0,
    connections_dropped: 0,
  };
  log: FaultLogEntry[] = [];
  private stopped = false;

  constructor(
    private readonly stack: ChaosStack,
    private readonly say: (msg: string) => void,
  ) {}

  stop(): void {
    this.stopped = true;
  }

  /** Runs the whole schedule; `t0` is when the first payment was sent. */
  async run(faults: readonly ScheduledFault[], t0: number): Promise<void> {
    let dbRestarts = 0;
    for (const fault of faults) {
      const wait = t0 + fault.at_ms - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.stopped) return;
      const start = performance.now();
      const entry: FaultLogEntry = { kind: fault.kind, planned_at_ms: fault.at_ms, at_ms: Math.round(start - t0), took_ms: 0, detail: '' };
      try {
        switch (fault.kind) {
          case 'worker_kill':
            entry.detail = `kill -9 worker-${fault.target}, down ${fault.down_ms} ms`;
            await this.stack.killWorker(fault.target, fault.down_ms);
            this.counts.worker_kills += 1;
            break;
          case 'temporal_restart':
            entry.detail = `Temporal dev server stopped, down ${fault.down_ms} ms, started on the same SQLite file`;
            await this.stack.restartTemporal(fault.down_ms);
            this.counts.temporal_restarts += 1;
            break;
          case 'api_restart':
            entry.detail = `kill -9 API, down ${fault.down_ms} ms`;
            await this.stack.restartApi(fault.down_ms);
            this.counts.api_restarts += 1;
            break;
          case 'database_restart': {
            const mode = dbRestarts++ % 2 === 0 ? 'fast' : 'immediate';
            entry.detail = `Postgres ${mode} shutdown, down ${fault.down_ms} ms`;
            await this.stack.restartPostgres(fault.down_ms, mode);
            this.counts.database_restarts += 1;
            break;
          }
          case 'connection_drop': {
            const n = await this.stack.dropConnections();
            entry.detail = `pg_terminate_backend of ${n} platform connections`;
            this.counts.connection_drops += 1;
            this.counts.connections_dropped += n;
            break;
          }
        }
      } catch (err) {
        entry.error = (err as Error).message;
        this.say(`fault ${fault.kind} failed: ${entry.error}`);
      }
      entry.took_ms = Math.round(performance.now() - start);
      this.log.push(entry);
      this.say(`fault at ${(entry.at_ms / 1000).toFixed(1)} s: ${entry.detail} (${entry.took_ms} ms)`);
    }
  }
}
