// The codec server: the Web UI's origin decodes (with a CORS grant for it alone), another origin
// is refused, and a caller with no origin needs the bearer token.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import pino from 'pino';
import { EncryptionCodec } from '../../src/codec/encryption-codec.js';
import { generateKeyEntry, parseKeyRing } from '../../src/codec/keys.js';
import { CODEC_BODY_MAX_BYTES, startCodecServer, type CodecServer } from '../../src/codec/server.js';

const UI = 'http://127.0.0.1:8233';
const TOKEN = 'test-token-0123456789abcdef';
const codec = new EncryptionCodec(parseKeyRing(generateKeyEntry('k1'), 'test'));
let server: CodecServer;
let body: string;

before(async () => {
  server = await startCodecServer({
    host: '127.0.0.1',
    port: 0,
    codec,
    ui_origins: [UI, 'http://localhost:8233'],
    token: TOKEN,
    log: pino({ level: 'silent' }),
  });
  const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload({ company_id: 'acme', amount_minor: 1234 })!]);
  body = JSON.stringify({ payloads: [payloadToJSON(encrypted!)] });
});
after(() => server.close());

const post = (path: string, headers: Record<string, string>, payload = body) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    body: payload,
  });

/** Writes a raw HTTP request and returns everything the server answered before closing. */
async function rawAnswer(head: string, body: Buffer[] = []): Promise<string> {
  const { hostname, port } = new URL(server.url);
  const socket = net.connect(Number(port), hostname);
  socket.setTimeout(ANSWER_TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)));
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined); // what matters is the answer read before the close
  socket.write(head);
  for (const b of body) socket.write(b);
  await closed;
  return answer;
}
const ANSWER_TIMEOUT_MS = 30_000;

function decodedValue(json: { payloads: Array<{ metadata: Record<string, string>; data: string }> }): unknown {
  const p = json.payloads[0]!;
  assert.equal(Buffer.from(p.metadata.encoding!, 'base64').toString(), 'json/plain');
  return JSON.parse(Buffer.from(p.data, 'base64').toString());
}

describe('codec server', () => {
  test('/decode from the Web UI origin: payloads in clear, CORS granted to that origin only', async () => {
    const res = await post('/decode', { origin: UI });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), UI);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.deepEqual(decodedValue((await res.json()) as never), { company_id: 'acme', amount_minor: 1234 });
  });

  test('the preflight from the UI origin allows POST with Content-Type, X-Namespace, Authorization', async () => {
    const res = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:8233',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    assert.match(res.headers.get('access-control-allow-methods')!, /POST/);
    assert.equal(res.headers.get('access-control-allow-headers'), 'Content-Type, X-Namespace, Authorization');
  });

  test('another origin is refused: 403, no CORS grant, even with the token; its preflight too', async () => {
    const refused: Array<Record<string, string>> = [
      { origin: 'http://evil.example' },
      { origin: 'http://127.0.0.1:9999', authorization: `Bearer ${TOKEN}` },
    ];
    for (const headers of refused) {
      const res = await post('/decode', headers);
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.match(((await res.json()) as { error: string }).error, /origin .* is not allowed/);
    }
    const preflight = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  });

  test('no origin and no token: 401; a wrong token: 401; the token: 200', async () => {
    const none = await post('/decode', {});
    assert.equal(none.status, 401);
    assert.match(((await none.json()) as { error: string }).error, /Authorization: Bearer/);
    assert.equal((await post('/decode', { authorization: 'Bearer wrong-token-0123456789ab' })).status, 401);
    const ok = await post('/decode', { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
    assert.deepEqual(decodedValue((await ok.json()) as never), { company_id: 'acme', amount_minor: 1234 });
  });

  test('/encode then /decode round trip with the token', async () => {
    const plain = JSON.stringify({ payloads: [payloadToJSON(defaultPayloadConverter.toPayload('hello')!)] });
    const enc = (await (await post('/encode', { authorization: `Bearer ${TOKEN}` }, plain)).json()) as { payloads: unknown[] };
    const encoding = Buffer.from((enc.payloads[0] as { metadata: { encoding: string } }).metadata.encoding, 'base64').toString();
    assert.equal(encoding, 'binary/encrypted');
    const dec = await post('/decode', { authorization: `Bearer ${TOKEN}` }, JSON.stringify(enc));
    assert.equal(decodedValue((await dec.json()) as never), 'hello');
  });

  test('clear errors: bad JSON 400, bad shape 400, unknown key 422, too big 413, unknown path 404, GET 405', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    assert.equal((await post('/decode', auth, '{nope')).status, 400);
    const shape = await post('/decode', auth, JSON.stringify({ payloads: [{ data: 'not base64!' }] }));
    assert.equal(shape.status, 400);
    assert.match(((await shape.json()) as { error: string }).error, /payloads\.0\.data/);
    const [foreign] = await new EncryptionCodec(parseKeyRing(generateKeyEntry('gone'), 't')).encode([
      defaultPayloadConverter.toPayload(1)!,
    ]);
    const unknown = await post('/decode', auth, JSON.stringify({ payloads: [payloadToJSON(foreign!)] }));
    assert.equal(unknown.status, 422);
    assert.match(((await unknown.json()) as { error: string }).error, /key "gone", which is not in the key ring/);
    // Too big, declared (Content-Length) or streamed (chunked): 413 either way, and the answer
    // always arrives (the body is sent in full up to the limit, so the server has nothing unread
    // when it closes the connection).
    const declared = await rawAnswer(
      `POST /decode HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${CODEC_BODY_MAX_BYTES + 1}\r\n\r\n`,
    );
    assert.match(declared, /^HTTP\/1\.1 413 /);
    assert.match(declared, new RegExp(`body over ${CODEC_BODY_MAX_BYTES} bytes`));
    const chunk = Buffer.alloc(64 * 1024, 'A');
    const chunks: Buffer[] = [];
    for (let sent = 0; sent <= CODEC_BODY_MAX_BYTES; sent += chunk.length) {
      chunks.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
    }
    const streamed = await rawAnswer(
      `POST /decode HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n`,
      chunks,
    );
    assert.match(streamed, /^HTTP\/1\.1 413 /);
    assert.equal((await post('/other', auth)).status, 404);
    assert.equal((await fetch(`${server.url}/decode`, { headers: auth })).status, 405);
  });
});
