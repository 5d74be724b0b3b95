// Engine work counted from a history (src/bench/engine-work.ts), as Temporal Cloud bills it: the
// patch marker's TemporalChangeVersion upsert is not an action; JSON and protobuf events count alike.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import proto from '@temporalio/proto';
import { REPO_ROOT } from '../../src/config.js';
import { engineWorkOf, firstTaskTimings, type HistoryEventLike } from '../../src/bench/engine-work.js';

const EventType = proto.temporal.api.enums.v1.EventType;
const recorded = (name: string) =>
  (JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'histories', name), 'utf8')) as { events: HistoryEventLike[] }).events;

test('a cleared card purchase: start, 2 updates, 2 local activities, 1 timer, no upsert = 6 actions', () => {
  const w = engineWorkOf(recorded('card-cleared.json'));
  assert.deepEqual(
    [w.workflow_tasks, w.activity_tasks, w.local_activities, w.timers_started, w.updates, w.upserts, w.change_version_upserts],
    [2, 0, 2, 1, 2, 0, 0],
  );
  assert.equal(w.temporal_actions, 6);
});

test("the same purchase before card workflow version 1: 2 billed upserts and the patch marker's unbilled one = 8 actions", () => {
  const w = engineWorkOf(recorded('v4/card-cleared.json'));
  assert.deepEqual([w.upserts, w.change_version_upserts, w.patch_markers], [2, 1, 1]);
  assert.equal(w.temporal_actions, 8);
});

test('protobuf events (numeric types, Long seconds) count and time like JSON ones', () => {
  const at = (ms: number) => ({ seconds: { toNumber: () => Math.floor(ms / 1000) }, nanos: (ms % 1000) * 1e6 });
  const events: HistoryEventLike[] = [
    { eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, eventTime: at(1_000) },
    { eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, eventTime: at(1_002) },
    { eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, eventTime: at(1_010) },
    { eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, eventTime: at(1_045) },
    {
      eventType: EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
      upsertWorkflowSearchAttributesEventAttributes: { searchAttributes: { indexedFields: { TemporalChangeVersion: {} } } },
    },
    {
      eventType: EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
      upsertWorkflowSearchAttributesEventAttributes: {
        searchAttributes: { indexedFields: { TemporalChangeVersion: {}, PaymentStatus: {} } },
      },
    },
  ];
  const w = engineWorkOf(events);
  assert.deepEqual([w.workflow_tasks, w.upserts, w.change_version_upserts, w.temporal_actions], [1, 1, 1, 2]);
  assert.deepEqual(firstTaskTimings(events), {
    started_ms: 1_000,
    scheduled_after_start_ms: 2,
    queued_ms: 8,
    run_ms: 35,
    completed_ms: 1_045,
  });
});

test('a history without a completed workflow task has no first-task timings', () => {
  assert.equal(firstTaskTimings(recorded('card-cleared.json').slice(0, 3)), null);
});
