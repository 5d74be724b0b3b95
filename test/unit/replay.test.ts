// Replay: every recorded history under test/histories must replay against the current workflow
// code without a determinism error; and the check must bite: the same histories replayed against
// a deliberately changed workflow must fail with one. Re-record with `npm run histories:record`.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { REPO_ROOT } from '../../src/config.js';
import { testDataConverter } from '../support/codec.js';
import { testEnv } from '../support/env.js';
import { tracingWorkerOptions, untraced } from '../../src/telemetry/tracing.js';

const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
/** Paths the corpus must cover: every row of DESIGN.md section 5's table, the compensation and
 * the late-approval paths (file names under test/histories/, written by npm run histories:record). */
const REQUIRED_PATHS = [
  'payout-settled',
  'payout-declined',
  'payout-compensated',
  // The bank's other answers (src/settlement/gateway.ts) and the steps around them.
  'payout-retried-409-5xx',
  'payout-credentials-refused',
  'payout-rejected-at-once',
  'payout-settled-booking-failed',
  'payout-retry-settlement-after-confirmation',
  'payout-confirmed-during-retries',
  'payout-compensation-retried',
  'payout-attention-retry-resolve',
  'card-cleared',
  'card-declined',
  'card-late-stand-in-decline',
  'card-late-stand-in-approve',
  'card-increment-cleared',
  'card-reversed',
  'card-multiple-clearings',
  'card-expired-then-force-post',
  'card-force-post',
  'card-refunded',
  'card-stand-in-advice-after-decision',
  'card-stand-in-advice-first',
  'card-ops-void-hold-resolve-attention',
  'card-continued-as-new',
  'card-continued-as-new-first-run',
  // A payment still on the legacy card workflow whose changes write events (legacy-card-events).
  'card-legacy-events',
  'network-settlement-matched',
  'network-settlement-mismatched',
  'network-settlement-stuck',
  // Billing (one run per statement): paid at its close (nothing owed), collected by direct debit,
  // the debit returned (past due, frozen, late fee), the minimum paid by transfer, and dunning
  // then paid by transfer (unfrozen).
  'billing-paid-at-close',
  'billing-direct-debit-paid',
  'billing-direct-debit-returned',
  'billing-minimum-paid',
  'billing-past-due-then-paid',
  'dispute-won-accepted',
  'dispute-won-silence',
  'dispute-pre-arbitration-won',
  'dispute-pre-arbitration-overdue-lost',
  'dispute-withdrawn',
  'dispute-refund-reduced-withdrawn',
  'dispute-chargeback-refused',
  'dispute-refused-over-amount',
  // Webhook delivery: retried then delivered, the endpoint deleted; and one disabled.
  'webhook-retried-delivered-deleted',
  'webhook-disabled',
];

Runtime.install({ logger: new DefaultLogger('ERROR') });

/** Every recorded history, in this folder and its versioned subfolders (v1/, ...). */
function histories(): Array<{ workflowId: string; history: unknown }> {
  const files = readdirSync(HISTORIES_DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort();
  return files.map((f) => ({
    workflowId: f.replace(/\.json$/, '').replaceAll(path.sep, '-'),
    history: JSON.parse(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')),
  }));
}

async function replayAll(workflowBundle: { code: string } | { codePath: string }) {
  const results: Array<{ workflowId: string; error?: unknown }> = [];
  // The platform's data converter, as a production worker replays: the corpus is recorded in
  // clear, and payloads without the encrypted encoding (workflows started before encryption was
  // turned on) must pass through it unchanged.
  // The bundle carries the tracing interceptors: their exporter sink must exist (it drops spans).
  const { sinks } = tracingWorkerOptions(untraced());
  for await (const result of Worker.runReplayHistories(
    { workflowBundle, dataConverter: testDataConverter(), ...(sinks ? { sinks } : {}) },
    histories(),
  )) {
    results.push(result);
  }
  return results;
}

describe('replay', () => {
  test('every recorded history replays against the current workflow code', async () => {
    const corpus = histories();
    for (const version of ['v1-', 'v2-', 'v3-', 'v4-', 'network-settlement-v1-']) {
      assert.ok(
        corpus.some((h) => h.workflowId.startsWith(version)),
        `histories from before the patches (${version}) are kept`,
      );
    }
    for (const name of REQUIRED_PATHS)
      assert.ok(
        corpus.some((h) => h.workflowId === name),
        `test/histories/${name}.json is recorded`,
      );
    const results = await replayAll({ codePath: testEnv.workflowBundlePath });
    assert.equal(results.length, corpus.length);
    for (const r of results) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });

  test('a non-deterministic change to the workflow fails the replay', async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('../support/changed-workflows/index.ts', import.meta.url)),
      logger: new DefaultLogger('ERROR'),
    });
    const results = await replayAll({ code });
    assert.equal(results.length, histories().length);
    for (const r of results) {
      assert.ok(r.error, `${r.workflowId} must not replay against the changed workflow`);
      assert.match(String((r.error as Error).name ?? r.error), /DeterminismViolationError/, `${r.workflowId}: ${String(r.error)}`);
    }
  });
});
