// Standard Webhooks signatures of bank callbacks: known vectors (the spec's example, checked with
// `openssl dgst -sha256 -mac HMAC`, and one computed here with node:crypto, not the module), and
// every way a callback must be refused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  WEBHOOK_SIGNATURES_MAX,
  WEBHOOK_TOLERANCE_S,
  generateWebhookSecret,
  parseWebhookSecret,
  parseWebhookSecrets,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
} from '../../src/settlement/webhook-signature.js';
import {
  defaultCallbackSecretFile,
  ensureCallbackSecretFile,
  ensureStackCallbackSecret,
  loadCallbackSecrets,
} from '../../src/settlement/callback-secret.js';

// The Standard Webhooks specification's example; the signature also checked with
// printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
//   openssl dgst -sha256 -mac HMAC -macopt hexkey:<hex of the base64 key> -binary | base64
const SPEC_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SPEC = { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp_s: 1614265330, body: '{"test": 2432232314}' };
const SPEC_SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const AT_SPEC = SPEC.timestamp_s * 1000;

const key = parseWebhookSecret(SPEC_SECRET, 'test');
const headersOf = (h: Record<string, string>) => h as Record<string, string | undefined>;

describe('signWebhook', () => {
  test("the specification's example", () => {
    assert.equal(signWebhook(key, SPEC), SPEC_SIGNATURE);
  });

  test('a vector computed independently with node:crypto', () => {
    const secret = Buffer.alloc(32, 7);
    const message = {
      id: 'cb_1',
      timestamp_s: 1_700_000_000,
      body: '{"idempotency_key":"payout:p1","status":"settled","bank_reference":"B1"}',
    };
    const independent = createHmac('sha256', secret).update(`cb_1.1700000000.${message.body}`).digest('base64');
    assert.equal(signWebhook(secret, message), `v1,${independent}`);
  });

  test('headers carry the id, the timestamp in seconds and the signature', () => {
    assert.deepEqual(webhookHeaders(key, SPEC), {
      'webhook-id': SPEC.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': SPEC_SIGNATURE,
    });
  });

  test('refuses an empty id or a timestamp that is not integer seconds', () => {
    assert.throws(() => signWebhook(key, { ...SPEC, id: '' }), /webhook id/);
    assert.throws(() => signWebhook(key, { ...SPEC, timestamp_s: 1.5 }), /timestamp/);
  });
});

describe('verifyWebhook', () => {
  const signed = headersOf(webhookHeaders(key, SPEC));

  test('accepts a valid callback, and one of several signatures', () => {
    assert.deepEqual(verifyWebhook([key], signed, SPEC.body, AT_SPEC), { ok: true, id: SPEC.id });
    const other = signWebhook(Buffer.alloc(32, 1), SPEC);
    const several = { ...signed, 'webhook-signature': `${other} v2,abc ${SPEC_SIGNATURE}` };
    assert.deepEqual(verifyWebhook([key], several, SPEC.body, AT_SPEC), { ok: true, id: SPEC.id });
  });

  test('accepts a callback signed with any of the secrets (rotation)', () => {
    assert.equal(verifyWebhook([Buffer.alloc(32, 9), key], signed, SPEC.body, AT_SPEC).ok, true);
  });

  test('refuses a tampered body, id or timestamp', () => {
    assert.deepEqual(verifyWebhook([key], signed, '{"test": 2432232315}', AT_SPEC), { ok: false, reason: 'no valid signature' });
    assert.equal(verifyWebhook([key], { ...signed, 'webhook-id': 'msg_other' }, SPEC.body, AT_SPEC).ok, false);
    assert.equal(verifyWebhook([key], { ...signed, 'webhook-timestamp': '1614265331' }, SPEC.body, AT_SPEC + 1000).ok, false);
  });

  test('refuses a callback signed with another secret', () => {
    const wrong = parseWebhookSecret(generateWebhookSecret(), 'test');
    assert.deepEqual(verifyWebhook([wrong], signed, SPEC.body, AT_SPEC), { ok: false, reason: 'no valid signature' });
  });

  test('refuses stale and future timestamps beyond five minutes, accepts them within', () => {
    assert.equal(WEBHOOK_TOLERANCE_S, 300);
    assert.equal(verifyWebhook([key], signed, SPEC.body, AT_SPEC + 300_000).ok, true);
    assert.equal(verifyWebhook([key], signed, SPEC.body, AT_SPEC - 300_000).ok, true);
    const stale = verifyWebhook([key], signed, SPEC.body, AT_SPEC + 301_000);
    assert.equal(stale.ok, false);
    assert.match(!stale.ok ? stale.reason : '', /301 s from now/);
    assert.equal(verifyWebhook([key], signed, SPEC.body, AT_SPEC - 301_000).ok, false, 'from the future');
  });

  test('refuses missing headers, malformed timestamps, signatures and too many signatures', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const verdict = verifyWebhook([key], { ...signed, [name]: undefined }, SPEC.body, AT_SPEC);
      assert.equal(verdict.ok, false, name);
      assert.match(!verdict.ok ? verdict.reason : '', /missing/);
    }
    assert.equal(verifyWebhook([key], {}, SPEC.body, AT_SPEC).ok, false);
    assert.equal(verifyWebhook([key], { ...signed, 'webhook-id': ['a', 'b'] }, SPEC.body, AT_SPEC).ok, false);
    for (const ts of ['-1614265330', '1614265330.0', 'soon', '1e9']) {
      assert.equal(verifyWebhook([key], { ...signed, 'webhook-timestamp': ts }, SPEC.body, AT_SPEC).ok, false, ts);
    }
    for (const sig of [
      'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      'v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      'v1,',
      'v1,AAAA',
    ]) {
      assert.equal(verifyWebhook([key], { ...signed, 'webhook-signature': sig }, SPEC.body, AT_SPEC).ok, false, sig);
    }
    const many = Array.from({ length: WEBHOOK_SIGNATURES_MAX }, () => 'v1,AAAA').join(' ');
    assert.match(
      JSON.stringify(verifyWebhook([key], { ...signed, 'webhook-signature': `${many} ${SPEC_SIGNATURE}` }, SPEC.body, AT_SPEC)),
      /over 8 signatures/,
    );
  });
});

describe('secrets', () => {
  test('parse whsec_<base64> of 24 to 64 bytes; refuse anything else without echoing it', () => {
    assert.equal(parseWebhookSecret(SPEC_SECRET, 'x').length, 24);
    assert.equal(parseWebhookSecret(generateWebhookSecret(), 'x').length, 32);
    assert.throws(() => parseWebhookSecret('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'SECRET'), /SECRET: a secret must look like whsec_/);
    assert.throws(() => parseWebhookSecret('whsec_c2hvcnQ=', 'SECRET'), /24 to 64 bytes, got 5/);
    assert.throws(
      () => parseWebhookSecret('whsec_not base64!', 'SECRET'),
      (err: Error) => /base64/.test(err.message) && !err.message.includes('not base64!'),
    );
  });

  test('several secrets, the first signs; comments and blank lines ignored', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    const keys = parseWebhookSecrets(`# bank secrets\n${a}\n\n${b}\n`, 'file');
    assert.equal(keys.length, 2);
    assert.deepEqual(keys[0], parseWebhookSecret(a, 'x'));
    assert.equal(parseWebhookSecrets(`${a} ${b}`, 'env').length, 2);
    assert.throws(() => parseWebhookSecrets('# nothing\n', 'file'), /file: no secret/);
  });
});

describe('the bank secret from the configuration', () => {
  test('SETTLEMENT_CALLBACK_SECRET, else the file, else the data folder file npm start creates (0600)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'callback-secret-'));
    try {
      assert.throws(() => loadCallbackSecrets({ DATA_DIR: dir }), /no settlement callback secret: set SETTLEMENT_CALLBACK_SECRET/);
      const secret = generateWebhookSecret();
      assert.deepEqual(loadCallbackSecrets({ DATA_DIR: dir, SETTLEMENT_CALLBACK_SECRET: secret }), [parseWebhookSecret(secret, 'x')]);
      assert.throws(
        () => loadCallbackSecrets({ DATA_DIR: dir, SETTLEMENT_CALLBACK_SECRET: secret, SETTLEMENT_CALLBACK_SECRET_FILE: '/x' }),
        /not both/,
      );
      assert.throws(
        () => loadCallbackSecrets({ DATA_DIR: dir, SETTLEMENT_CALLBACK_SECRET_FILE: path.join(dir, 'nope') }),
        /does not exist/,
      );

      const file = defaultCallbackSecretFile(dir);
      assert.equal(ensureCallbackSecretFile(file), true);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const keys = loadCallbackSecrets({ DATA_DIR: dir });
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.length, 32);
      assert.equal(ensureCallbackSecretFile(file), false, 'an existing secret is kept');
      assert.deepEqual(loadCallbackSecrets({ DATA_DIR: dir }), keys);
      assert.deepEqual(
        ensureStackCallbackSecret({ DATA_DIR: dir }, () => undefined),
        { SETTLEMENT_CALLBACK_SECRET_FILE: file },
      );
      assert.deepEqual(
        ensureStackCallbackSecret({ DATA_DIR: dir, SETTLEMENT_CALLBACK_SECRET: secret }, () => undefined),
        {},
      );

      chmodSync(file, 0o644);
      assert.throws(() => loadCallbackSecrets({ DATA_DIR: dir }), /readable by others: chmod 600/);
      writeFileSync(path.join(dir, 'bad'), 'whsec_c2hvcnQ=\n', { mode: 0o600 });
      assert.throws(() => loadCallbackSecrets({ DATA_DIR: dir, SETTLEMENT_CALLBACK_SECRET_FILE: path.join(dir, 'bad') }), /24 to 64 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
