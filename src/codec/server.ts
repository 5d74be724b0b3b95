// The codec server: lets the Temporal Web UI (and `temporal ... --codec-endpoint`) show payloads in
// clear while the server stores only ciphertext. Temporal's codec server protocol:
// POST /encode and POST /decode with `{"payloads": [{"metadata": {k: base64}, "data": base64}]}`,
// answered in the same shape; the UI adds an `X-Namespace` header.
//
// Who may call it: a browser page from one of the configured UI origins (CORS grants that origin
// only; the UI sends no token over plain HTTP), or a caller without an Origin header that presents
// `Authorization: Bearer <token>`. A request from any other origin is refused (403, no CORS grant),
// one with neither origin nor token too (401). The Origin check stops other web pages; it is not a
// credential against local programs (they can send any Origin): bind the server to loopback.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { Logger } from 'pino';
import { z } from 'zod';

/** A history's largest event carries at most a few 2 MiB payloads; the UI decodes one at a time. */
export const CODEC_BODY_MAX_BYTES = 8 * 1024 * 1024;

export interface CodecServerOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  codec: PayloadCodec;
  /** Browser origins (scheme://host:port) whose pages may call it, e.g. the Web UI's. */
  ui_origins: string[];
  /** Bearer token required from callers that send no Origin; null: only the UI origins. */
  token: string | null;
  log: Logger;
}

export interface CodecServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const bodySchema = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), z.base64()).optional(),
      data: z.base64().optional(),
    }),
  ),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > CODEC_BODY_MAX_BYTES) throw new HttpError(413, `body over ${CODEC_BODY_MAX_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > CODEC_BODY_MAX_BYTES) throw new HttpError(413, `body over ${CODEC_BODY_MAX_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parsePayloads(text: string): Payload[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  const parsed = bodySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new HttpError(
      400,
      `body must be {"payloads":[{"metadata":{...base64},"data":base64}]}: ${issue.path.join('.')}: ${issue.message}`,
    );
  }
  return parsed.data.payloads.map((p) => JSONToPayload({ metadata: p.metadata ?? {}, ...(p.data !== undefined ? { data: p.data } : {}) }));
}

export function normalizeOrigin(origin: string): string {
  const u = new URL(origin);
  return u.origin;
}

export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const origins = new Set(options.ui_origins.map(normalizeOrigin));
  const { codec, log } = options;

  const server = http.createServer((req, res) => {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && origins.has(origin);
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const headers: Record<string, string> = { 'cache-control': 'no-store', ...extra };
      if (allowed) {
        headers['access-control-allow-origin'] = origin!;
        headers['access-control-allow-credentials'] = 'true';
      }
      headers.vary = 'Origin';
      if (body === null) {
        res.writeHead(status, headers).end();
      } else {
        res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(body));
      }
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://codec');
      if (url.pathname === '/healthz' && req.method === 'GET') return send(200, { status: 'ok' });
      const endpoint = url.pathname.replace(/\/+$/, '');
      if (endpoint !== '/encode' && endpoint !== '/decode')
        throw new HttpError(404, `no endpoint ${url.pathname}: POST /encode or /decode`);
      if (origin !== undefined && !allowed) throw new HttpError(403, `origin ${origin} is not allowed`);
      if (req.method === 'OPTIONS') {
        // CORS preflight, from an allowed origin only (refused above otherwise).
        if (!allowed) throw new HttpError(400, 'a preflight needs an Origin');
        return send(204, null, {
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'Content-Type, X-Namespace, Authorization',
          'access-control-max-age': '600',
        });
      }
      if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed: POST ${endpoint}`);
      if (!allowed) {
        const auth = req.headers.authorization ?? '';
        const bearer = /^Bearer (.+)$/i.exec(auth)?.[1];
        if (!bearer) throw new HttpError(401, 'requests from outside the Web UI need Authorization: Bearer <codec server token>');
        if (options.token === null || !sameToken(bearer, options.token)) throw new HttpError(401, 'wrong codec server token');
      }
      const payloads = parsePayloads(await readBody(req));
      let out: Payload[];
      try {
        out = endpoint === '/encode' ? await codec.encode(payloads) : await codec.decode(payloads);
      } catch (err) {
        throw new HttpError(422, `cannot ${endpoint.slice(1)}: ${(err as Error).message}`);
      }
      log.debug({ endpoint, payloads: out.length, namespace: req.headers['x-namespace'], origin }, 'codec request');
      send(200, { payloads: out.map((p) => payloadToJSON(p)) });
    })().catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error({ err }, 'codec server error');
      else log.info({ status, error: (err as Error).message, origin, path: req.url }, 'codec request refused');
      // An over-long body: answer, then stop reading it.
      if (status === 413) res.once('finish', () => req.destroy());
      if (!res.headersSent)
        send(status, { error: status === 500 ? 'internal error' : (err as Error).message }, status === 413 ? { connection: 'close' } : {});
    });
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
