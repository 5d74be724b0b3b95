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
