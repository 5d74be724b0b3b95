// `npx tsx src/bench/card-history-cost.ts [--out FILE] [files...]`: engine work per card purchase,
// counted from recorded workflow histories (test/histories by default): history events, workflow
// tasks, activity tasks, local activities, timers, search-attribute upserts, updates and signals,
// and the Temporal actions they add up to, as Temporal Cloud bills them (src/bench/engine-work.ts).
// Prints JSON; --out also writes it.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../config.js';
import { engineWorkOf, type EngineWork, type HistoryEventLike } from './engine-work.js';

function count(file: string): EngineWork {
  const { events } = JSON.parse(readFileSync(file, 'utf8')) as { events: HistoryEventLike[] };
  return engineWorkOf(events);
}

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args[outAt + 1] : undefined;
const given = outAt >= 0 ? args.filter((_, i) => i !== outAt && i !== outAt + 1) : args;
const dir = path.join(REPO_ROOT, 'test', 'histories');
const files =
  given.length > 0
    ? given
    : readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((f) => /(^|\/)card-[^/]*\.json$/.test(f))
        .sort()
        .map((f) => path.join(dir, f));
const result = {
  command: `npx tsx src/bench/card-history-cost.ts${out ? ` --out ${out}` : ''}${given.length ? ` ${given.join(' ')}` : ''}`,
  histories: Object.fromEntries(files.map((f) => [path.relative(REPO_ROOT, f), count(f)])),
};
const text = `${JSON.stringify(result, null, 2)}\n`;
if (out) writeFileSync(out, text);
process.stdout.write(text);
