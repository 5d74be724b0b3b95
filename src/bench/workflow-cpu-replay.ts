// One measurement of `npm run bench:workflow-cpu`, in a process of its own: the bench starts one
// per variant and round, so that each variant gets the environment it names (the workflow stack
// traces setting, which the SDK's workflow threads read from it: scripts/patch-temporal-worker.mjs)
// and no variant inherits another's compiled code or garbage.
//
// Replays the card history `--replays` times against `--bundle` after `--warmup` untimed replays,
// and, with `--corpus`, first the whole recorded card corpus once, counting the histories that fail.
// Prints one JSON line, a ReplayMeasurement.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { DefaultLogger, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { integerIn } from '../cli/args.js';
import { createDataConverter } from '../codec/data-converter.js';
import { generateKeyEntry, parseKeyRing } from '../codec/keys.js';
import { REPO_ROOT } from '../config.js';
import { tracingWorkerOptions, untraced } from '../telemetry/tracing.js';

const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');

export interface ReplayMeasurement {
  cpu_ms: number;
  wall_ms: number;
  replays: number;
  /** Histories in the corpus replayed (0 without `--corpus`), and the ones that failed. */
  corpus_histories: number;
  corpus_failed: string[];
}

interface History {
  workflowId: string;
  history: unknown;
}

const program = new Command('workflow-cpu-replay')
  .description('One bench:workflow-cpu measurement (started by the bench, not by hand).')
  .requiredOption('--bundle <file>', 'the workflow bundle to replay against')
  .requiredOption('--history <file>', 'the card history to replay, under test/histories')
  .requiredOption('--replays <n>', 'timed replays', integerIn(1, 100_000))
  .requiredOption('--warmup <n>', 'untimed replays first (the first replays compile the code)', integerIn(0, 10_000))
  .option('--corpus', 'replay every recorded card history once first, counting failures', false);

async function main(): Promise<void> {
  const opts = program.parse().opts<{ bundle: string; history: string; replays: number; warmup: number; corpus: boolean }>();
  // Errors only: a variant without the tracing interceptors fails some corpus histories on
  // purpose, and the SDK's core would log a warning for each.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  // Histories are recorded in clear; the platform's converter passes unencrypted payloads through.
  const dataConverter = createDataConverter(parseKeyRing(generateKeyEntry('bench-workflow-cpu'), 'bench:workflow-cpu'));
  // The tracing interceptors' exporter sink must exist; it drops every span, as in `npm start`.
  const { sinks } = tracingWorkerOptions(untraced());
  const code = readFileSync(opts.bundle, 'utf8');
  const history: unknown = JSON.parse(readFileSync(path.join(HISTORIES_DIR, opts.history), 'utf8'));

  // Replayed as a live worker runs workflows: in a workflow thread of the SDK (not its replay
  // default, this thread), with the same reused V8 context and per-workflow module registry. In
  // this thread, the SDK's stack-trace promise hook would also fire for every promise of the
  // replay machinery around the workflows, which a live workflow thread does not run.
  const replayOptions = {
    workflowBundle: { code },
    dataConverter,
    ...(sinks ? { sinks } : {}),
    debugMode: false,
    workflowThreadPoolSize: 1,
  };
  /** Replays the histories, calling `onResult` with the count of results so far after each. */
  const replay = async (
    histories: Iterable<History> | AsyncIterable<History>,
    onResult: (results: number) => void = () => {},
  ): Promise<string[]> => {
    const failed: string[] = [];
    let results = 0;
    for await (const r of Worker.runReplayHistories(replayOptions, histories)) {
      if (r.error) failed.push(r.workflowId);
      results += 1;
      onResult(results);
    }
    return failed;
  };
  async function* copies(tag: string, n: number): AsyncIterable<History> {
    for (let i = 0; i < n; i += 1) yield { workflowId: `${tag}-${i}`, history };
  }

  const corpus: History[] = opts.corpus
    ? readdirSync(HISTORIES_DIR, { recursive: true, encoding: 'utf8' })
        .filter((f) => /(^|\/)card-[^/]*\.json$/.test(f))
        .sort()
        .map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')) as unknown }))
    : [];
  const corpus_failed = corpus.length > 0 ? await replay(corpus) : [];
  // The warm-up and the timed replays go through one replay worker, so that the timed ones run in
  // the thread that compiled the code: the clock starts when the last warm-up replay is done.
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  const failed = await replay(copies('replay', opts.warmup + opts.replays), (results) => {
    if (results === opts.warmup) [cpu0, wall0] = [process.cpuUsage(), performance.now()];
  });
  const wall_ms = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  if (failed.length > 0) throw new Error(`${failed.length} of ${opts.warmup + opts.replays} replays failed (${failed[0]})`);
  const result: ReplayMeasurement = {
    cpu_ms: (cpu.user + cpu.system) / 1000,
    wall_ms,
    replays: opts.replays,
    corpus_histories: corpus.length,
    corpus_failed,
  };
  console.log(JSON.stringify(result));
}

await main();
