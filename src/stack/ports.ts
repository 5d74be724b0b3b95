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

/** A port the OS says is free right now (for tests and ephemeral servers). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Draws of the OS per port wanted before distinctFreePorts gives up. */
const PORT_DRAWS_PER_PORT_MAX = 20;

/** `n` distinct ports the OS says are free right now. Drawn one at a time, a port released by one
 * draw can come back from the next: a stack given two equal ports fails at every start. */
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
      free = await assertPortFree(port, 'range', 'range', host).then(
        () => true,
        () => false,
      );
    }
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports in [${min}, ${max}) after ${TRIES_MAX} tries`);
}
