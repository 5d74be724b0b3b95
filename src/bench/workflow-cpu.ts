// `npm run bench:workflow-cpu -- --out FILE`: the CPU a card payment costs in a workflow thread,
// measured by replaying a recorded card history (authorize, then clear: test/histories/card-cleared.json)
// many times against the card workflow's bundle, the way the authorizations worker runs it (the SDK's
// reused V8 context: every replay is a new workflow, with its own module registry). Replay runs the
// same workflow code and SDK machinery as a live worker, without the server, the local activity or
// the network, so it isolates the part of a payment's cost that the bundle decides.
//
// Variants, each replayed in every round, in alternating order, so that a slow spell of a shared
// machine falls on all of them; each measurement is a process of its own
// (src/bench/workflow-cpu-replay.ts), warmed up before it is timed:
// - `production`: the bundle every worker runs (WORKFLOW_BUNDLE_PARTS: zod preloaded, tracing
//   interceptors), with the SDK's workflow stack traces off (TEMPORAL_WORKFLOW_STACK_TRACES);
// - `stack_traces_on`: the same with them on, as the SDK has them unless told otherwise
//   (scripts/patch-temporal-worker.mjs);
// - `no_preload`: the same without the preloaded modules (zod evaluated again for every workflow);
// - `no_tracing_interceptors`: without the tracing interceptors. Not deployable: the interceptors
//   are part of the workflows' determinism (see `replay_failures`), it is here to show their cost.
// Every variant also replays the whole recorded card corpus once: `replay_failures` counts the
// histories that fail against it (0 for a bundle that can run the payments in flight).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { integerIn } from '../cli/args.js';
import { CARD_WORKFLOWS_PATH, WORKFLOW_BUNDLE_PARTS, bundleWorkflows, type WorkflowBundleParts } from '../workers/worker.js';
import { describeMachine, percentile, round } from './measure.js';
import type { ReplayMeasurement } from './workflow-cpu-replay.js';

const program = new Command('bench:workflow-cpu')
  .description('CPU per card payment in a workflow thread: a recorded history replayed against the card bundle and variants of it.')
  .requiredOption('--out <file>', 'write the JSON result here (also printed as the last line)')
  .option('--replays <n>', 'replays per variant per round', integerIn(10, 100_000), 300)
  .option('--rounds <n>', 'rounds (each replays every variant, alternating the order)', integerIn(1, 50), 3)
  .option('--history <file>', 'the card history to replay, under test/histories', 'card-cleared.json')
  .addHelpText('after', '\nReplays in child processes (no server needed); run on an otherwise idle machine.');

const REPLAY_SCRIPT = fileURLToPath(new URL('./workflow-cpu-replay.ts', import.meta.url));
const WARMUP_REPLAYS = 50;
/** A measurement of 100,000 replays takes about an hour; no child may run longer than that. */
const REPLAY_CHILD_TIMEOUT_MS = 2 * 60 * 60 * 1000;

interface Variant {
  parts: WorkflowBundleParts;
  /** TEMPORAL_WORKFLOW_STACK_TRACES in the replaying process. */
  stack_traces: 'on' | 'off';
}

const VARIANTS: Record<string, Variant> = {
  production: { parts: WORKFLOW_BUNDLE_PARTS, stack_traces: 'off' },
  stack_traces_on: { parts: WORKFLOW_BUNDLE_PARTS, stack_traces: 'on' },
  no_preload: { parts: { ...WORKFLOW_BUNDLE_PARTS, preload_modules: [] }, stack_traces: 'off' },
  no_tracing_interceptors: { parts: { ...WORKFLOW_BUNDLE_PARTS, interceptor_modules: [] }, stack_traces: 'off' },
};

function progress(message: string): void {
  process.stderr.write(`[bench:workflow-cpu] ${message}\n`);
}

async function measure(bundle_file: string, variant: Variant, args: string[]): Promise<ReplayMeasurement> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', REPLAY_SCRIPT, '--bundle', bundle_file, ...args], {
    env: { ...process.env, TEMPORAL_WORKFLOW_STACK_TRACES: variant.stack_traces },
    timeout: REPLAY_CHILD_TIMEOUT_MS,
    maxBuffer: 1024 * 1024,
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const m = JSON.parse(last) as ReplayMeasurement;
  if (!(m.cpu_ms > 0 && m.wall_ms > 0)) throw new Error(`the replay process printed no measurement: ${last}`);
  return m;
}

async function main(): Promise<void> {
  const opts = program.parse().opts<{ out: string; replays: number; rounds: number; history: string }>();
  const names = Object.keys(VARIANTS);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-workflow-cpu-'));
  try {
    const bundles = new Map<string, string>();
    for (const name of names) {
      progress(`bundling ${name}`);
      const file = path.join(dir, `${name}.js`);
      writeFileSync(file, await bundleWorkflows(CARD_WORKFLOWS_PATH, VARIANTS[name]!.parts));
      bundles.set(name, file);
    }

    const replayFailures = new Map<string, string[]>();
    let corpus_histories = 0;
    const samples = new Map<string, { cpu_ms: number[]; wall_ms: number[] }>(names.map((n) => [n, { cpu_ms: [], wall_ms: [] }]));
    for (let round_i = 0; round_i < opts.rounds; round_i += 1) {
      const order = round_i % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const args = ['--history', opts.history, '--replays', String(opts.replays), '--warmup', String(WARMUP_REPLAYS)];
        // Every variant also replays the recorded corpus, once: its `replay_failures`.
        const m = await measure(bundles.get(name)!, VARIANTS[name]!, round_i === 0 ? [...args, '--corpus'] : args);
        if (round_i === 0) {
          replayFailures.set(name, m.corpus_failed);
          corpus_histories = m.corpus_histories;
        }
        const s = samples.get(name)!;
        s.cpu_ms.push(m.cpu_ms / m.replays);
        s.wall_ms.push(m.wall_ms / m.replays);
        progress(`round ${round_i + 1}/${opts.rounds} ${name}: ${round(s.cpu_ms.at(-1)!, 2)} ms CPU per replay`);
      }
    }
    const median = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        50,
      );
    const variants = Object.fromEntries(
      names.map((name) => {
        const s = samples.get(name)!;
        return [
          name,
          {
            cpu_ms_per_replay: round(median(s.cpu_ms), 2),
            cpu_ms_per_replay_rounds: s.cpu_ms.map((x) => round(x, 2)),
            wall_ms_per_replay: round(median(s.wall_ms), 2),
            replay_failures: replayFailures.get(name)!.length,
            replay_failed_histories: replayFailures.get(name)!,
          },
        ];
      }),
    );
    const production = variants.production!.cpu_ms_per_replay;
    const result = {
      command: `npm run bench:workflow-cpu -- ${process.argv.slice(2).join(' ')}`,
      history: `test/histories/${opts.history}`,
      corpus_histories,
      replays_per_round: opts.replays,
      rounds: opts.rounds,
      variants,
      // What each part costs per card payment: the variant without it, against production.
      production_vs: Object.fromEntries(
        names.filter((n) => n !== 'production').map((n) => [n, round(production / variants[n]!.cpu_ms_per_replay, 3)]),
      ),
      machine: describeMachine(),
    };
    writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
