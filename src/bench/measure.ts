// Measuring helpers shared by the benchmarks (bench:saga, bench:overload, bench:capacity, bench:ledger):
// percentiles, rounding, the CPU each component used, from /proc, and the machine a result came from.
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
export const round = (n: number, digits = 1) => Number(n.toFixed(digits));

// CPU time per component (the process and its descendants), from /proc: where the cores went.
export const CLK_TCK = 100;
export function cpuTicksByRoot(roots: Record<string, number>): Record<string, number> {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime + stime, plus cutime + cstime: an exited child's time moves to its parent, so the
      // sum over a tree does not drop when a database connection closes.
      const ticks = [11, 12, 13, 14].reduce((a, k) => a + Number(fields[k]), 0);
      procs.set(Number(entry), { ppid: Number(fields[1]), ticks });
    } catch {
      // gone meanwhile
    }
  }
  const byPid = new Map(Object.entries(roots).map(([name, pid]) => [pid, name]));
  const totals: Record<string, number> = Object.fromEntries(Object.keys(roots).map((name) => [name, 0]));
  for (const [pid, { ticks }] of procs) {
    for (let p: number | undefined = pid, hops = 0; p && hops < 50; p = procs.get(p)?.ppid, hops++) {
      const name = byPid.get(p);
      if (name) {
        totals[name]! += ticks;
        break;
      }
    }
  }
  return totals;
}
export function machineBusyTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - cpu[3]! - (cpu[4] ?? 0), total };
}
export function cpuMeter(roots: () => Record<string, number>) {
  const r = roots();
  const t0 = performance.now();
  const start = cpuTicksByRoot(r);
  const m0 = machineBusyTicks();
  return () => {
    const s = (performance.now() - t0) / 1000;
    const end = cpuTicksByRoot(r);
    const m1 = machineBusyTicks();
    const cores: Record<string, number> = Object.fromEntries(
      Object.keys(end).map((k) => [k, round((end[k]! - start[k]!) / CLK_TCK / s, 2)]),
    );
    const busy_share = (m1.busy - m0.busy) / (m1.total - m0.total);
    const ours = Object.values(cores).reduce((a, b) => a + b, 0);
    // Whatever else runs on the machine meanwhile (it is shared): busy cores that are not ours.
    cores.other = round(Math.max(0, busy_share * os.cpus().length - ours), 2);
    return { cores_used: cores, machine_busy_share: round(busy_share, 2) };
  };
}

export type CpuReport = ReturnType<ReturnType<typeof cpuMeter>>;

/** The machine a result was measured on, recorded with every benchmark's result. */
export function describeMachine(): { cpus: number; cpu_model: string; memory_gib: number; node: string } {
  return {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
}
