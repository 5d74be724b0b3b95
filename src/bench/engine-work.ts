// Engine work of one workflow run, counted from its history: the one count behind
// src/bench/card-history-cost.ts (recorded histories, JSON) and bench:overload (fetched histories,
// protobuf objects) and bench:capacity. Temporal actions are counted as Temporal Cloud bills them
// (docs.temporal.io/cloud/actions): the start, each signal, each update, each activity and local
// activity, each timer, each child workflow, each memo or search-attribute upsert, except the SDK's own upsert of
// `TemporalChangeVersion` (the patch marker's), which is not billed. And the timings of the first
// workflow task, where an authorization is decided.
import proto from '@temporalio/proto';

const EventType = proto.temporal.api.enums.v1.EventType;

/** A history event as JSON (`"EVENT_TYPE_..."`, ISO times) or as the SDK's protobuf object. */
export interface HistoryEventLike {
  eventType?: string | number | null;
  eventTime?: string | { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null;
  markerRecordedEventAttributes?: { markerName?: string | null } | null;
  upsertWorkflowSearchAttributesEventAttributes?: { searchAttributes?: { indexedFields?: Record<string, unknown> | null } | null } | null;
}

export interface EngineWork {
  history_events: number;
  workflow_tasks: number;
  activity_tasks: number;
  local_activities: number;
  timers_started: number;
  /** Billed upserts (the TemporalChangeVersion-only upsert is not). */
  upserts: number;
  /** The SDK's TemporalChangeVersion-only upserts (not billed). */
  change_version_upserts: number;
  updates: number;
  signals: number;
  /** Child workflows started (each a workflow start) and memo changes (billed like an upsert). */
  child_workflows: number;
  memo_upserts: number;
  patch_markers: number;
  temporal_actions: number;
}

function typeName(e: HistoryEventLike): string {
  const t = e.eventType;
  const name = (typeof t === 'number' ? EventType[t] : t) ?? '';
  return name.replace(/^EVENT_TYPE_/, '');
}

/** Milliseconds since the epoch of an event. */
export function eventMs(e: HistoryEventLike): number {
  const t = e.eventTime;
  if (typeof t === 'string') return Date.parse(t);
  if (!t) return Number.NaN;
  const seconds = typeof t.seconds === 'object' && t.seconds !== null ? t.seconds.toNumber() : Number(t.seconds ?? 0);
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}

export function engineWorkOf(events: readonly HistoryEventLike[]): EngineWork {
  const n = (type: string) => events.filter((e) => typeName(e) === type).length;
  const markers = (name: string) => events.filter((e) => e.markerRecordedEventAttributes?.markerName === name).length;
  const upsertKeys = events
    .filter((e) => typeName(e) === 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES')
    .map((e) => Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}));
  const changeVersionOnly = upsertKeys.filter((keys) => keys.length === 1 && keys[0] === 'TemporalChangeVersion').length;
  const w = {
    history_events: events.length,
    workflow_tasks: n('WORKFLOW_TASK_COMPLETED'),
    activity_tasks: n('ACTIVITY_TASK_SCHEDULED'),
    local_activities: markers('core_local_activity'),
    timers_started: n('TIMER_STARTED'),
    upserts: upsertKeys.length - changeVersionOnly,
    change_version_upserts: changeVersionOnly,
    updates: n('WORKFLOW_EXECUTION_UPDATE_ACCEPTED'),
    signals: n('WORKFLOW_EXECUTION_SIGNALED'),
    child_workflows: n('START_CHILD_WORKFLOW_EXECUTION_INITIATED'),
    memo_upserts: n('WORKFLOW_PROPERTIES_MODIFIED'),
    patch_markers: markers('core_patch'),
  };
  const temporal_actions =
    1 + w.updates + w.signals + w.activity_tasks + w.local_activities + w.timers_started + w.upserts + w.child_workflows + w.memo_upserts;
  return { ...w, temporal_actions };
}

/** Where the first workflow task's time went, in ms: from the run's start to the task being
 * scheduled, waiting for a worker's poll (matching), and running on the worker (the workflow code
 * and the local activities it waits for: the decision and its ledger write). */
export interface FirstTaskTimings {
  started_ms: number;
  scheduled_after_start_ms: number;
  queued_ms: number;
  run_ms: number;
  completed_ms: number;
}

export function firstTaskTimings(events: readonly HistoryEventLike[]): FirstTaskTimings | null {
  const at = (type: string) => {
    const e = events.find((x) => typeName(x) === type);
    return e ? eventMs(e) : Number.NaN;
  };
  const started = at('WORKFLOW_EXECUTION_STARTED');
  const scheduled = at('WORKFLOW_TASK_SCHEDULED');
  const taken = at('WORKFLOW_TASK_STARTED');
  const completed = at('WORKFLOW_TASK_COMPLETED');
  if (![started, scheduled, taken, completed].every(Number.isFinite)) return null;
  return {
    started_ms: started,
    scheduled_after_start_ms: scheduled - started,
    queued_ms: taken - scheduled,
    run_ms: completed - taken,
    completed_ms: completed,
  };
}
