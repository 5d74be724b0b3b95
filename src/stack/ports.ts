import net from 'node:net';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

/** Fails with one clear line when a port we are about to serve on is taken. */
export async function assertPortFree(port: number, what: string, variable: string, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new PortInUseError(`port ${port} (${what}) is already in use: stop whatever listens there, or set ${variable} to a free port`)
          : err,
      );
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/** Ports we pick for our own services come from [10000, 20000): below the OS's ephemeral range
 * (Linux: 32768-60999), from which every listen(0) and every outgoing connection's source port is
 * drawn, and below server mode's internal ports (20000-32767, freePortRange). A port drawn by the OS
 * (the Temporal dev server takes its HTTP and metrics ports that way, and takes new ones each time
 * it restarts) was handed to the dev server after we had picked it and before our API bound it: the
 * API then failed with EADDRINUSE at every restart of a chaos run. */
const PICKED_PORT_MIN = 10_000;
const PICKED_PORT_MAX = 20_000;
/** Tries per port wanted; a band of 10,000 ports on a busy machine needs few. */
const PORT_TRIES_MAX = 50;

async function isPortFree(port: number, host: string): Promise<boolean> {
  return assertPortFree(port, 'probe', 'probe', host).then(
    () => true,
    () => false,
  );
}

/** A port that is free right now, outside the range the OS draws from (see PICKED_PORT_MIN). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < PORT_TRIES_MAX; attempt++) {
    const port = PICKED_PORT_MIN + Math.floor(Math.random() * (PICKED_PORT_MAX - PICKED_PORT_MIN));
    if (await isPortFree(port, host)) return port;
  }
  throw new Error(`no free port in [${PICKED_PORT_MIN}, ${PICKED_PORT_MAX}) after ${PORT_TRIES_MAX} tries`);
}

/** Draws per port wanted before distinctFreePorts gives up. */
const PORT_DRAWS_PER_PORT_MAX = 20;

/** `n` distinct ports that are free right now. Drawn one at a time, a port released by one draw can
 * come back from the next: a stack given two equal ports fails at every start. */
export async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let draws = 0; ports.size < n; draws++) {
    if (draws >= n * PORT_DRAWS_PER_PORT_MAX) throw new Error(`could not find ${n} distinct free ports in ${draws} draws`);
    ports.add(await freePort());
  }
  return [...ports];
}

/** The port variables of `npm start` (src/config.ts), each listening service's own. */
export const STACK_PORT_VARIABLES = [
  'POSTGRES_PORT',
  'TEMPORAL_PORT',
  'TEMPORAL_UI_PORT',
  'SETTLEMENT_SIMULATOR_PORT',
  'SETTLEMENT_CALLBACK_PORT',
  'API_PORT',
  'CODEC_SERVER_PORT',
  'WORKER_METRICS_PORT',
  'API_METRICS_PORT',
] as const;

/** Distinct free ports for every `npm start` service, as environment variables, for a platform
 * started beside others on one machine (tests, benchmarks). */
export async function stackPortsEnv(): Promise<Record<(typeof STACK_PORT_VARIABLES)[number], string>> {
  const ports = await distinctFreePorts(STACK_PORT_VARIABLES.length);
  return Object.fromEntries(STACK_PORT_VARIABLES.map((name, i) => [name, String(ports[i])])) as Record<
    (typeof STACK_PORT_VARIABLES)[number],
    string
  >;
}

/** `count` consecutive ports from a random start in [min, max), all free right now; a few tries.
 * (Server mode's internal ports: the server needs them below 32768.) */
export async function freePortRange(count: number, min: number, max: number, host = '127.0.0.1'): Promise<number> {
  const TRIES_MAX = 20;
  for (let attempt = 0; attempt < TRIES_MAX; attempt++) {
    const base = min + Math.floor(Math.random() * (max - min - count));
    let free = true;
    for (let port = base; port < base + count && free; port++) {
      free = await isPortFree(port, host);
    }
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports in [${min}, ${max}) after ${TRIES_MAX} tries`);
}
