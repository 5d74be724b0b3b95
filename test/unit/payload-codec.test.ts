// The payload codec: AES-256-GCM over the whole Payload, the key id in the metadata, old keys
// still decrypting after a rotation, and clear errors for an unknown key or tampered ciphertext.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { ENCRYPTED_ENCODING, EncryptionCodec, METADATA_KEY_ID } from '../../src/codec/encryption-codec.js';
import { ensureKeyFile, generateKeyEntry, loadKeyRing, parseKeyRing } from '../../src/codec/keys.js';

const secret = { company_id: 'acme-secret-co', amount_minor: 987_654, payee: { name: 'Hidden Supplier GmbH' } };
const toPayload = (v: unknown) => defaultPayloadConverter.toPayload(v)!;
const fromPayload = (p: Payload) => defaultPayloadConverter.fromPayload(p);
const meta = (p: Payload, k: string) => Buffer.from(p.metadata![k]!).toString('utf8');

describe('payload codec', () => {
  const old = generateKeyEntry('old');
  const neu = generateKeyEntry('new');

  test('round trip: ciphertext with the key id, nothing in clear, same value back', async () => {
    const codec = new EncryptionCodec(parseKeyRing(old, 't'));
    const [encoded] = await codec.encode([toPayload(secret)]);
    assert.equal(meta(encoded!, 'encoding'), ENCRYPTED_ENCODING);
    assert.equal(meta(encoded!, METADATA_KEY_ID), 'old');
    assert.deepEqual(Object.keys(encoded!.metadata!).sort(), ['encoding', METADATA_KEY_ID].sort());
    const raw = Buffer.from(encoded!.data!);
    for (const s of ['acme-secret-co', '987654', 'Hidden Supplier', 'json/plain']) assert.ok(!raw.includes(s), `${s} not in clear`);
    const [decoded] = await codec.decode([encoded!]);
    assert.deepEqual(fromPayload(decoded!), secret);
    assert.equal(meta(decoded!, 'encoding'), 'json/plain');
    // A fresh nonce per payload: the same value encrypts differently.
    const [again] = await codec.encode([toPayload(secret)]);
    assert.notDeepEqual(Buffer.from(again!.data!), raw);
  });

  test('rotation: a payload written with the old key decrypts with a ring whose active key is new', async () => {
    const [written] = await new EncryptionCodec(parseKeyRing(old, 't')).encode([toPayload(secret)]);
    const rotated = new EncryptionCodec(parseKeyRing(`${neu},${old}`, 't'));
    assert.deepEqual(fromPayload((await rotated.decode([written!]))[0]!), secret);
    const [fresh] = await rotated.encode([toPayload(secret)]);
    assert.equal(meta(fresh!, METADATA_KEY_ID), 'new');
  });

  test('an unknown key id: an error naming it', async () => {
    const [written] = await new EncryptionCodec(parseKeyRing(old, 't')).encode([toPayload(secret)]);
    const other = new EncryptionCodec(parseKeyRing(neu, 't'));
    await assert.rejects(other.decode([written!]), /encrypted with key "old", which is not in the key ring \(known: new\)/);
  });

  test('tampered ciphertext, or another key under the same id, fails authentication', async () => {
    const codec = new EncryptionCodec(parseKeyRing(old, 't'));
    const [written] = await codec.encode([toPayload(secret)]);
    const data = Buffer.from(written!.data!);
    data[20]! ^= 0x01;
    await assert.rejects(codec.decode([{ ...written!, data }]), /key "old" fails authentication/);
    const impostor = new EncryptionCodec(parseKeyRing(generateKeyEntry('old'), 't'));
    await assert.rejects(impostor.decode([written!]), /fails authentication/);
    await assert.rejects(codec.decode([{ ...written!, data: data.subarray(0, 10) }]), /truncated/);
  });

  test('payloads not encrypted (older workflows, the replay corpus) pass through decode unchanged', async () => {
    const plain = toPayload(secret);
    const [decoded] = await new EncryptionCodec(parseKeyRing(old, 't')).decode([plain]);
    assert.equal(decoded, plain);
  });

  test('key ring: the first key is active; malformed entries are refused without echoing key material', () => {
    const ring = parseKeyRing(`${neu}\n# comment\n${old}`, 'f');
    assert.equal(ring.active_key_id, 'new');
    assert.deepEqual([...ring.keys.keys()], ['new', 'old']);
    assert.throws(() => parseKeyRing('', 'X'), /X: no key/);
    assert.throws(() => parseKeyRing('a:c2hvcnQ=', 'X'), /key a must be 32 bytes/);
    assert.throws(() => parseKeyRing('nocolon', 'X'), /entry 1 must be id:base64key/);
    assert.throws(() => parseKeyRing(`${old},${old}`, 'X'), /key id old appears twice/);
  });

  test('key sources: env, file, the generated data-folder file (0600), none is an error', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'codec-keys-'));
    assert.throws(() => loadKeyRing({ DATA_DIR: dir }), /no payload encryption keys: set PAYLOAD_CODEC_KEYS/);
    assert.throws(() => loadKeyRing({ DATA_DIR: dir, PAYLOAD_CODEC_KEYS: old, PAYLOAD_CODEC_KEYS_FILE: '/x' }), /not both/);
    assert.equal(loadKeyRing({ DATA_DIR: dir, PAYLOAD_CODEC_KEYS: old }).active_key_id, 'old');
    const file = path.join(dir, 'payload-codec-keys');
    assert.equal(ensureKeyFile(file), true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const first = readFileSync(file, 'utf8');
    assert.equal(ensureKeyFile(file), false, 'an existing key file is kept');
    assert.equal(readFileSync(file, 'utf8'), first);
    assert.equal(loadKeyRing({ DATA_DIR: dir }).keys.size, 1);
    assert.equal(loadKeyRing({ DATA_DIR: '/nonexistent', PAYLOAD_CODEC_KEYS_FILE: file }).keys.size, 1);
  });
});
