// The payload encryption keys: a ring of AES-256 keys by id, the first one active (new payloads
// are encrypted with it), every one usable to decrypt (payloads written before a rotation).
// Keys come from PAYLOAD_CODEC_KEYS or PAYLOAD_CODEC_KEYS_FILE, else from the file `npm start`
// generates in the data folder; they are never in the repository.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface KeyRing {
  /** Encrypts every new payload. */
  active_key_id: string;
  /** Every known key, the active one included. */
  keys: ReadonlyMap<string, Buffer>;
}

export class KeyRingError extends Error {
  override name = 'KeyRingError';
}

/** `id1:base64key,id2:base64key` (commas or newlines; `#` starts a comment line); the first is
 * active. `where` names the source in errors, never the key material. */
export function parseKeyRing(text: string, where: string): KeyRing {
  const entries = text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('#'));
  if (entries.length === 0) throw new KeyRingError(`${where}: no key (expected id:base64key[,id:base64key...])`);
  const keys = new Map<string, Buffer>();
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    if (!KEY_ID.test(id)) throw new KeyRingError(`${where}: entry ${i + 1} must be id:base64key with an id of letters, digits, . _ -`);
    const b64 = entry.slice(colon + 1);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== KEY_BYTES || key.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) {
      throw new KeyRingError(`${where}: key ${id} must be ${KEY_BYTES} bytes in base64 (openssl rand -base64 32)`);
    }
    if (keys.has(id)) throw new KeyRingError(`${where}: key id ${id} appears twice`);
    keys.set(id, key);
  }
  return { active_key_id: entries[0]!.slice(0, entries[0]!.indexOf(':')), keys };
}

/** The key file `npm start` creates in the data folder when no key is configured. */
export function defaultKeyFile(dataDir: string): string {
  return path.join(dataDir, 'payload-codec-keys');
}

export interface KeySources {
  PAYLOAD_CODEC_KEYS?: string | undefined;
  PAYLOAD_CODEC_KEYS_FILE?: string | undefined;
  DATA_DIR: string;
}

/** Where the keys come from: PAYLOAD_CODEC_KEYS, else PAYLOAD_CODEC_KEYS_FILE, else the data
 * folder's generated file (a running `npm start`); none of them is an error. */
export function loadKeyRing(sources: KeySources): KeyRing {
  if (sources.PAYLOAD_CODEC_KEYS && sources.PAYLOAD_CODEC_KEYS_FILE) {
    throw new KeyRingError('set PAYLOAD_CODEC_KEYS or PAYLOAD_CODEC_KEYS_FILE, not both');
  }
  if (sources.PAYLOAD_CODEC_KEYS) return parseKeyRing(sources.PAYLOAD_CODEC_KEYS, 'PAYLOAD_CODEC_KEYS');
  const file = sources.PAYLOAD_CODEC_KEYS_FILE ?? defaultKeyFile(sources.DATA_DIR);
  if (!existsSync(file)) {
    throw new KeyRingError(
      sources.PAYLOAD_CODEC_KEYS_FILE
        ? `PAYLOAD_CODEC_KEYS_FILE=${file} does not exist`
        : `no payload encryption keys: set PAYLOAD_CODEC_KEYS or PAYLOAD_CODEC_KEYS_FILE, or run \`npm start\` (it creates ${file})`,
    );
  }
  return parseKeyRing(readFileSync(file, 'utf8'), file);
}

/** `id:base64key` for a new random key. */
export function generateKeyEntry(id: string = newKeyId()): string {
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

export function newKeyId(now: Date = new Date()): string {
  return `k${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

/** Creates the key file with one new key (owner-only, 0600) unless it exists; returns whether it
 * was created. An existing file is left alone (its keys decrypt everything stored so far). */
export function ensureKeyFile(file: string): boolean {
  if (existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0) throw new KeyRingError(`${file} is readable by others: chmod 600 it`);
    return false;
  }
  const header = '# Payload encryption keys (npm start). The first key encrypts; every key decrypts.\n';
  try {
    writeFileSync(file, `${header}${generateKeyEntry()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  return true;
}
