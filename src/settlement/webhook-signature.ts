// Bank callbacks are signed in the Standard Webhooks scheme (https://www.standardwebhooks.com/):
//
//   webhook-id:        the message's id (the same on every delivery attempt of one message)
//   webhook-timestamp: when this attempt was sent, in integer Unix seconds
//   webhook-signature: one or more space-separated `v1,<base64 HMAC-SHA256>` entries
//
// The HMAC is computed over `<id>.<timestamp>.<raw body>` with the bank's secret, serialized as
// `whsec_<base64 key>`. The receiver refuses a callback without the three headers, with a
// timestamp more than WEBHOOK_TOLERANCE_S away from its clock (a replay, or a clock gone wrong),
// or with no signature that matches one of its secrets (several during a rotation), comparing in
// constant time. Nothing here does I/O: the simulator signs with it, the receiver verifies.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
/** How far a callback's timestamp may be from the receiver's clock, either way (the spec's 5 min). */
export const WEBHOOK_TOLERANCE_S = 300;
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Secrets are 24 to 64 random bytes (the spec's range); generated ones are 32. */
export const WEBHOOK_SECRET_BYTES_MIN = 24;
export const WEBHOOK_SECRET_BYTES_MAX = 64;
const GENERATED_SECRET_BYTES = 32;
/** Limits on what a sender controls: an id, and how many signatures one header may carry. */
export const WEBHOOK_ID_LENGTH_MAX = 256;
export const WEBHOOK_SIGNATURES_MAX = 8;
const SIGNATURE_VERSION = 'v1';
const HMAC_BYTES = 32;

export class WebhookSecretError extends Error {
  override name = 'WebhookSecretError';
}

/** The HMAC key of a `whsec_<base64>` secret. `where` names the source in errors, never the key. */
export function parseWebhookSecret(text: string, where: string): Buffer {
  const trimmed = text.trim();
  if (!trimmed.startsWith(WEBHOOK_SECRET_PREFIX))
    throw new WebhookSecretError(`${where}: a secret must look like ${WEBHOOK_SECRET_PREFIX}<base64>`);
  const b64 = trimmed.slice(WEBHOOK_SECRET_PREFIX.length);
  const key = Buffer.from(b64, 'base64');
  if (key.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, ''))
    throw new WebhookSecretError(`${where}: the secret is not valid base64`);
  if (key.length < WEBHOOK_SECRET_BYTES_MIN || key.length > WEBHOOK_SECRET_BYTES_MAX) {
    throw new WebhookSecretError(
      `${where}: the secret must be ${WEBHOOK_SECRET_BYTES_MIN} to ${WEBHOOK_SECRET_BYTES_MAX} bytes, got ${key.length}`,
    );
  }
  return key;
}

/** Secrets separated by spaces, commas or newlines (`#` starts a comment line); the first signs. */
export function parseWebhookSecrets(text: string, where: string): Buffer[] {
  const entries = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join(' ')
    .split(/[\s,]+/)
    .filter((s) => s !== '');
  if (entries.length === 0) throw new WebhookSecretError(`${where}: no secret (expected ${WEBHOOK_SECRET_PREFIX}<base64>)`);
  return entries.map((entry, i) => parseWebhookSecret(entry, `${where} (secret ${i + 1})`));
}

export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(GENERATED_SECRET_BYTES).toString('base64')}`;
}

export interface WebhookMessage {
  id: string;
  /** Integer Unix seconds. */
  timestamp_s: number;
  /** The raw body, exactly as sent. */
  body: string;
}

function hmac(key: Buffer, message: WebhookMessage): Buffer {
  return createHmac('sha256', key).update(`${message.id}.${message.timestamp_s}.${message.body}`, 'utf8').digest();
}

/** The `webhook-signature` value: `v1,<base64>`. */
export function signWebhook(key: Buffer, message: WebhookMessage): string {
  if (!(message.id.length > 0 && message.id.length <= WEBHOOK_ID_LENGTH_MAX))
    throw new Error(`webhook id must be 1..${WEBHOOK_ID_LENGTH_MAX} characters`);
  if (!(Number.isSafeInteger(message.timestamp_s) && message.timestamp_s > 0))
    throw new Error(`webhook timestamp must be positive integer seconds`);
  return `${SIGNATURE_VERSION},${hmac(key, message).toString('base64')}`;
}

/** The three headers of a signed callback. */
export function webhookHeaders(key: Buffer, message: WebhookMessage): Record<string, string> {
  return {
    [WEBHOOK_ID_HEADER]: message.id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(message.timestamp_s),
    [WEBHOOK_SIGNATURE_HEADER]: signWebhook(key, message),
  };
}

export type WebhookVerdict = { ok: true; id: string } | { ok: false; reason: string };

/** Node's incoming headers, or any map from lower-case names to values. */
export type WebhookHeaderSource = Record<string, string | string[] | undefined>;

function header(headers: WebhookHeaderSource, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? undefined : value;
}

/** Whether a callback is signed by one of `keys`, within the tolerance of `now_ms`. */
export function verifyWebhook(
  keys: readonly Buffer[],
  headers: WebhookHeaderSource,
  body: string,
  now_ms: number,
  tolerance_s: number = WEBHOOK_TOLERANCE_S,
): WebhookVerdict {
  if (keys.length === 0) throw new Error('verifyWebhook needs at least one secret');
  const id = header(headers, WEBHOOK_ID_HEADER);
  const timestamp = header(headers, WEBHOOK_TIMESTAMP_HEADER);
  const signatures = header(headers, WEBHOOK_SIGNATURE_HEADER);
  if (!id || !timestamp || !signatures) {
    return { ok: false, reason: `missing ${WEBHOOK_ID_HEADER}, ${WEBHOOK_TIMESTAMP_HEADER} or ${WEBHOOK_SIGNATURE_HEADER} header` };
  }
  if (id.length > WEBHOOK_ID_LENGTH_MAX) return { ok: false, reason: `${WEBHOOK_ID_HEADER} over ${WEBHOOK_ID_LENGTH_MAX} characters` };
  if (!/^[0-9]{1,15}$/.test(timestamp)) return { ok: false, reason: `${WEBHOOK_TIMESTAMP_HEADER} must be integer Unix seconds` };
  const timestamp_s = Number(timestamp);
  const skew_s = Math.abs(now_ms / 1000 - timestamp_s);
  if (skew_s > tolerance_s) {
    return { ok: false, reason: `${WEBHOOK_TIMESTAMP_HEADER} is ${Math.round(skew_s)} s from now (at most ${tolerance_s} s)` };
  }
  const entries = signatures.split(' ').filter((s) => s !== '');
  if (entries.length > WEBHOOK_SIGNATURES_MAX) return { ok: false, reason: `over ${WEBHOOK_SIGNATURES_MAX} signatures` };
  const expected = keys.map((key) => hmac(key, { id, timestamp_s, body }));
  for (const entry of entries) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== SIGNATURE_VERSION) continue;
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    if (given.length !== HMAC_BYTES) continue;
    // Every secret is compared, so the time taken does not tell which one (if any) matched.
    let matched = false;
    for (const mac of expected) matched = timingSafeEqual(given, mac) || matched;
    if (matched) return { ok: true, id };
  }
  return { ok: false, reason: 'no valid signature' };
}
