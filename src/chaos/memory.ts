// Resident memory of every long-running process of a chaos run, sampled while it runs (Linux
// /proc/<pid>/status VmRSS): the workers, the API, the Temporal dev server, the Postgres
// postmaster and the chaos process itself (which hosts the bank simulator). A process that grows
// without bound fails the run: over a ceiling, or, for one incarnation sampled long enough, still
// climbing steeply in the last third of its life after the first third.
import { readFileSync } from 'node:fs';

/** Every process must stay under this. */
export const RSS_MB_LIMIT = 2_048;
/** A process sampled at least this many times is checked for growth. */
const GROWTH_SAMPLES_MIN = 30;
/** Growth that fails: the last third's peak over the first third's peak by both this factor and this many MB. */
const GROWTH_FACTOR_MAX = 2;
const GROWTH_MB_MIN = 300;
/** Samples kept per incarnation (hours of a long run at the default interval); later ones only raise the peak. */
const SAMPLES_PER_PROCESS_MAX = 20_000;

export interface MemoryReport {
  /** Peak resident memory per process name, MB. */
  rss_mb_max: Record<string, number>;
  samples: number;
  ok: boolean;
  problems: string[];
}

function rssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null; // gone (killed by a fault) or not Linux
  }
}

/** Peaks per process name, and the incarnations ("name pid") over the limit or growing steeply. */
export function judgeMemory(series: ReadonlyMap<string, readonly number[]>): Omit<MemoryReport, 'samples'> {
  const rss_mb_max: Record<string, number> = {};
  const problems: string[] = [];
  for (const [key, values] of series) {
    if (values.length === 0) continue;
    const name = key.split(' ')[0]!;
    const peak = Math.max(...values);
    rss_mb_max[name] = Math.max(rss_mb_max[name] ?? 0, peak);
    if (peak > RSS_MB_LIMIT) problems.push(`${key}: ${peak} MB resident, over the ${RSS_MB_LIMIT} MB limit`);
    if (values.length >= GROWTH_SAMPLES_MIN) {
      const third = Math.floor(values.length / 3);
      const early = Math.max(...values.slice(0, third));
      const late = Math.max(...values.slice(-third));
      if (late > early * GROWTH_FACTOR_MAX && late - early > GROWTH_MB_MIN) {
        problems.push(`${key}: grew from ${early} MB to ${late} MB over ${values.length} samples`);
      }
    }
  }
  return { rss_mb_max, ok: problems.length === 0, problems };
}

export class MemorySampler {
  /** Samples per incarnation, keyed by "name pid". */
  private readonly series = new Map<string, number[]>();
  private timer: NodeJS.Timeout | null = null;
  private samples = 0;

  constructor(
    private readonly processes: () => Array<{ name: string; pid: number }>,
    private readonly interval_ms: number,
  ) {
    if (!(Number.isSafeInteger(interval_ms) && interval_ms >= 100)) throw new Error(`interval_ms must be >= 100, got ${interval_ms}`);
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.interval_ms);
    this.timer.unref();
  }

  stop(): MemoryReport {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return { ...judgeMemory(this.series), samples: this.samples };
  }

  private sample(): void {
    this.samples += 1;
    const all = [...this.processes(), { name: 'chaos', pid: process.pid }];
    for (const { name, pid } of all) {
      const mb = rssMb(pid);
      if (mb === null) continue;
      const key = `${name} ${pid}`;
      const values = this.series.get(key) ?? [];
      if (values.length < SAMPLES_PER_PROCESS_MAX) values.push(mb);
      else values[values.length - 1] = Math.max(values[values.length - 1]!, mb);
      this.series.set(key, values);
    }
  }
}
