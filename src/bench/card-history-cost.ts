// `npx tsx src/bench/card-history-cost.ts [--out FILE] [files...]`: engine work per card purchase,
// counted from recorded workflow histories (test/histories by default): history events, workflow
// tasks, activity tasks, local activities, timers, search-attribute upserts, updates and signals,
// and the Temporal actions they add up to (start, updates, signals, local and remote activities,
// timers and upserts, as Temporal Cloud bills them). Prints JSON; --out also writes it.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../config.js';

interface Counts {
  history_events: number;
  workflow_tasks: number;
  activity_tasks: number;
  local_activities: number;
  timers_started: number;
  upserts: number;
  updates: number;
  signals: number;
  patch_markers: number;
  temporal_actions: number;
}

function count(file: string): Counts {
  const { events } = JSON.parse(readFileSync(file, 'utf8')) as {
    events: Array<{ eventType: string; markerRecordedEventAttributes?: { markerName?: string } }>;
  };
  const n = (type: string) => events.filter((e) => e.eventType === `EVENT_TYPE_${type}`).length;
  const markers = (name: string) => events.filter((e) => e.markerRecordedEventAttributes?.markerName === name).length;
  const c = {
    history_events: events.length,
    workflow_tasks: n('WORKFLOW_TASK_COMPLETED'),
    activity_tasks: n('ACTIVITY_TASK_SCHEDULED'),
    local_activities: markers('core_local_activity'),
    timers_started: n('TIMER_STARTED'),
    upserts: n('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES'),
    updates: n('WORKFLOW_EXECUTION_UPDATE_ACCEPTED'),
    signals: n('WORKFLOW_EXECUTION_SIGNALED'),
    patch_markers: markers('core_patch'),
  };
  // Start + every update, signal, activity (local or not), timer and upsert.
  const temporal_actions = 1 + c.updates + c.signals + c.activity_tasks + c.local_activities + c.timers_started + c.upserts;
  return { ...c, temporal_actions };
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
