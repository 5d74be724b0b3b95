// `npm run bench:workflow-cpu -- --out FILE`: the CPU a card payment costs in a workflow thread,
// measured by replaying a recorded card history (authorize, then clear: test/histories/card-cleared.json)
// many times against the card workflow's bundle, the way the authorizations worker runs it (the SDK's
// reused V8 context: every replay is a new workflow, with its own module registry). Replay runs the
// same workflow code and SDK machinery as a live worker, without the server, the local activity or
// the network, so it isolates the part of a payment's cost that the bundle decides.
//
// Variants, each replayed in every round, in alternating order, so that a slow spell of a shared
// machine falls on all of them:
// - `production`: the bundle every worker runs (WORKFLOW_BUNDLE_PARTS: zod preloaded, tracing
//   interceptors);
// - `no_preload`: the same without the preloaded modules (zod evaluated again for every workflow);
// - `no_tracing_interceptors`: without the tracing interceptors. Not deployable: the interceptors
//   are part of the workflows' determinism (see `replay_failures`), it is here to show their cost.
// Every variant also replays the whole recorded card corpus once: `replay_failures` counts the
// histories that fail against it (0 for a bundle that can run the payments in flight).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { DefaultLogger, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { integerIn } from '../cli/args.js';
import { createDataConverter } from '../codec/data-converter.js';
import { generateKeyEntry, parseKeyRing } from '../codec/keys.js';
import { REPO_ROOT } from '../config.js';
import { tracingWorkerOptions, untraced } from '../telemetry/tracing.js';
import { CARD_WORKFLOWS_PATH, WORKFLOW_BUNDLE_PARTS, bundleWorkflows, type WorkflowBundleParts } from '../workers/worker.js';
import { describeMachine, percentile, round } from './measure.js';

const program = new Command('bench:workflow-cpu')
  .description('CPU per card payment in a workflow thread: a recorded history replayed against the card bundle and variants of it.')
  .requiredOption('--out <file>', 'write the JSON result here (also printed as the last line)')
  .option('--replays <n>', 'replays per variant per round', integerIn(10, 100_000), 300)
  .option('--rounds <n>', 'rounds (each replays every variant, alternating the order)', integerIn(1, 50), 3)
  .option('--history <file>', 'the card history to replay, under test/histories', 'card-cleared.json')
  .addHelpText('after', '\nReplays in this process (no server needed); run on an otherwise idle machine.');

const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
const WARMUP_REPLAYS = 50;

const VARIANTS: Record<string, WorkflowBundleParts> = {
  production: WORKFLOW_BUNDLE_PARTS,
  no_preload: { ...WORKFLOW_BUNDLE_PARTS, preload_modules: [] },
  no_tracing_interceptors: { ...WORKFLOW_BUNDLE_PARTS, interceptor_modules: [] },
};

interface History {
  workflowId: string;
  history: unknown;
}

function progress(message: string): void {
  process.stderr.write(`[bench:workflow-cpu] ${message}\n`);
}

async function main(): Promise<void> {
  const opts = program.parse().opts<{ out: string; replays: number; rounds: number; history: string }>();
  // Errors only: the variant without the tracing interceptors fails some histories on purpose
  // (`replay_failures`), and the SDK's core would log a warning for each.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  // Histories are recorded in clear; the platform's converter passes unencrypted payloads through.
  const dataConverter = createDataConverter(parseKeyRing(generateKeyEntry('bench-workflow-cpu'), 'bench:workflow-cpu'));
  // The tracing interceptors' exporter sink must exist; it drops every span, as in `npm start`.
  const { sinks } = tracingWorkerOptions(untraced());
  const history: unknown = JSON.parse(readFileSync(path.join(HISTORIES_DIR, opts.history), 'utf8'));
  const corpus: History[] = readdirSync(HISTORIES_DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => /(^|\/)card-[^/]*\.json$/.test(f))
    .sort()
    .map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')) as unknown }));

  /** Replays the histories; returns the ones that failed. */
  const replay = async (code: string, histories: Iterable<History> | AsyncIterable<History>): Promise<string[]> => {
    const failed: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { code }, dataConverter, ...(sinks ? { sinks } : {}) }, histories))
      if (r.error) failed.push(r.workflowId);
    return failed;
  };
  async function* copies(tag: string, n: number): AsyncIterable<History> {
    for (let i = 0; i < n; i += 1) yield { workflowId: `${tag}-${i}`, history };
  }

  const names = Object.keys(VARIANTS);
  const bundles = new Map<string, string>();
  const replayFailures = new Map<string, string[]>();
  for (const name of names) {
    progress(`bundling ${name}`);
    const code = await bundleWorkflows(CARD_WORKFLOWS_PATH, VARIANTS[name]!);
    bundles.set(name, code);
    replayFailures.set(name, await replay(code, corpus));
    // Warm-up: the first replays of a bundle compile its code.
    const warm = await replay(code, copies(`warm-${name}`, WARMUP_REPLAYS));
    if (warm.length > 0) throw new Error(`${name}: ${warm.length} of the warm-up replays failed (${warm[0]})`);
  }

  const samples = new Map<string, { cpu_ms: number[]; wall_ms: number[] }>(names.map((n) => [n, { cpu_ms: [], wall_ms: [] }]));
  for (let round_i = 0; round_i < opts.rounds; round_i += 1) {
    const order = round_i % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      const failed = await replay(bundles.get(name)!, copies(`r${round_i}-${name}`, opts.replays));
      const wall_ms = performance.now() - wall0;
      const cpu = process.cpuUsage(cpu0);
      if (failed.length > 0) throw new Error(`${name}: ${failed.length} of ${opts.replays} replays failed (${failed[0]})`);
      const s = samples.get(name)!;
      s.cpu_ms.push((cpu.user + cpu.system) / 1000 / opts.replays);
      s.wall_ms.push(wall_ms / opts.replays);
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
    corpus_histories: corpus.length,
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
}

await main();
