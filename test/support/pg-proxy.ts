// A TCP proxy in front of the test Postgres that can lose a connection at a chosen moment: after
// a client message containing a marker (e.g. COMMIT) has reached the server, the proxy waits for
// the server to act on it and then cuts the client off before the answer arrives. What a client
// sees when the network fails right after it sent COMMIT: the outcome is unknown.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PgProxy {
  /** The server URL with the proxy's host and port. */
  url: string;
  /** Cuts the next connection whose client sends `marker`, `after_ms` after forwarding it. */
  dropAfter(marker: string, after_ms: number): void;
  /** How many connections were cut. */
  dropped(): number;
  close(): Promise<void>;
}

export async function startPgProxy(serverUrl: string): Promise<PgProxy> {
  const target = new URL(serverUrl);
  let armed: { marker: Buffer; after_ms: number } | null = null;
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let cutting = false;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => {
      upstream.write(chunk);
      if (armed && !cutting && chunk.includes(armed.marker)) {
        const { after_ms } = armed;
        armed = null;
        cutting = true;
        // Answers from the server are held back from now on; the client only sees the cut.
        void sleep(after_ms).then(() => {
          dropped += 1;
          cut();
        });
      }
    });
    upstream.on('data', (chunk) => {
      if (!cutting) client.write(chunk);
    });
    client.on('error', cut).on('close', () => upstream.end());
    upstream.on('error', cut).on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(serverUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    dropAfter(marker, after_ms) {
      armed = { marker: Buffer.from(marker, 'utf8'), after_ms };
    },
    dropped: () => dropped,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
