// Webhook signing secrets at rest: sealed with the payload encryption key ring (src/codec/keys.ts,
// the keys that already encrypt every Temporal payload), AES-256-GCM, bound to the endpoint id
// (additional data) so a sealed secret copied to another endpoint's row does not open. Format:
// `<key id>:<base64 nonce|ciphertext|tag>`; any key of the ring opens what it sealed (rotation).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyRing } from '../codec/keys.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

export function sealSecret(ring: KeyRing, owner_id: string, secret: string): string {
  const key = ring.keys.get(ring.active_key_id);
  if (!key) throw new SecretBoxError(`active key ${ring.active_key_id} is not in the key ring`);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(owner_id, 'utf8'));
  const sealed = Buffer.concat([nonce, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${ring.active_key_id}:${sealed.toString('base64')}`;
}

/** The secret `sealSecret` sealed for `owner_id`. Errors name the key id, never material. */
export function openSecret(ring: KeyRing, owner_id: string, sealed: string): string {
  const colon = sealed.indexOf(':');
  const key_id = colon < 0 ? '' : sealed.slice(0, colon);
  const key = ring.keys.get(key_id);
  if (!key) throw new SecretBoxError(`secret of ${owner_id} is sealed with key "${key_id}", which is not in the key ring`);
  const bytes = Buffer.from(sealed.slice(colon + 1), 'base64');
  if (bytes.length < NONCE_BYTES + TAG_BYTES) throw new SecretBoxError(`secret of ${owner_id} is truncated`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(owner_id, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretBoxError(`secret of ${owner_id} does not open with key "${key_id}" (tampered, or sealed for another endpoint)`);
  }
}
