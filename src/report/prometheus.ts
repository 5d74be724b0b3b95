// Just enough of the Prometheus text format for the report: histograms (buckets summed over every
// label set that matches) and counters by one label. Comments and other series are skipped.

export interface Histogram {
  /** Upper bounds, ascending, the last one Infinity. */
  bounds: number[];
  /** Observations per bucket (not cumulative): counts[i] fell in (bounds[i-1], bounds[i]]. */
  counts: number[];
  count: number;
  sum: number;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (!Number.isNaN(value)) samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

function matches(labels: Record<string, string>, filter: Record<string, string>): boolean {
  return Object.entries(filter).every(([k, v]) => labels[k] === v);
}

/** The histogram `name` (its _bucket, _sum and _count series), summed over the label sets that
 * carry `filter`; null when it has no bucket at all. */
export function histogram(samples: Sample[], name: string, filter: Record<string, string> = {}): Histogram | null {
  const cumulative = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const s of samples) {
    if (!matches(s.labels, filter)) continue;
    if (s.name === `${name}_bucket`) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      if (!Number.isNaN(le)) cumulative.set(le, (cumulative.get(le) ?? 0) + s.value);
    } else if (s.name === `${name}_sum`) sum += s.value;
    else if (s.name === `${name}_count`) count += s.value;
  }
  if (cumulative.size === 0) return null;
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  if (bounds.at(-1) !== Infinity) bounds.push(Infinity);
  const counts: number[] = [];
  let previous = 0;
  for (const b of bounds) {
    const c = cumulative.get(b) ?? (b === Infinity ? count : previous);
    counts.push(Math.max(0, c - previous));
    previous = Math.max(previous, c);
  }
  return { bounds, counts, count: count || previous, sum };
}

/** A counter's values summed by one label (e.g. outcome), over the label sets that carry
 * `filter`. Accepts the name with or without `_total`. */
export function counterBy(samples: Sample[], name: string, label: string, filter: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name && s.name !== `${name}_total`) continue;
    if (!matches(s.labels, filter)) continue;
    const key = s.labels[label] ?? '';
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** The smallest bucket bound under which a share q of the observations fall (an upper estimate,
 * as Prometheus' buckets allow); null without observations. */
export function quantileBound(h: Histogram, q: number): number | null {
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i]!;
    if (seen >= q * total) return h.bounds[i]!;
  }
  return Infinity;
}
