// Where the bank's callback-signing secret comes from (src/settlement/webhook-signature.ts): the
// worker's receiver verifies with it, the simulator signs with it. SETTLEMENT_CALLBACK_SECRET, or
// SETTLEMENT_CALLBACK_SECRET_FILE, else the file `npm start` generates in the data folder (0600),
// the same pattern as the payload codec keys (src/codec/keys.ts). Never in the repository.
// One secret (or several during a rotation, the first signing) per bank: this platform talks to
// one payee bank, through one gateway and one callback receiver.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WebhookSecretError, generateWebhookSecret, parseWebhookSecrets } from './webhook-signature.js';

export function defaultCallbackSecretFile(dataDir: string): string {
  return path.join(dataDir, 'settlement-callback-secret');
}

export interface CallbackSecretSources {
  SETTLEMENT_CALLBACK_SECRET?: string | undefined;
  SETTLEMENT_CALLBACK_SECRET_FILE?: string | undefined;
  DATA_DIR: string;
}

/** The bank's secrets, the first one signing; none configured or found is an error that says how
 * to configure one. */
export function loadCallbackSecrets(sources: CallbackSecretSources): Buffer[] {
  if (sources.SETTLEMENT_CALLBACK_SECRET && sources.SETTLEMENT_CALLBACK_SECRET_FILE) {
    throw new WebhookSecretError('set SETTLEMENT_CALLBACK_SECRET or SETTLEMENT_CALLBACK_SECRET_FILE, not both');
  }
  if (sources.SETTLEMENT_CALLBACK_SECRET) return parseWebhookSecrets(sources.SETTLEMENT_CALLBACK_SECRET, 'SETTLEMENT_CALLBACK_SECRET');
  const file = sources.SETTLEMENT_CALLBACK_SECRET_FILE ?? defaultCallbackSecretFile(sources.DATA_DIR);
  if (!existsSync(file)) {
    throw new WebhookSecretError(
      sources.SETTLEMENT_CALLBACK_SECRET_FILE
        ? `SETTLEMENT_CALLBACK_SECRET_FILE=${file} does not exist`
        : `no settlement callback secret: set SETTLEMENT_CALLBACK_SECRET or SETTLEMENT_CALLBACK_SECRET_FILE, or run \`npm start\` (it creates ${file})`,
    );
  }
  if ((statSync(file).mode & 0o077) !== 0) throw new WebhookSecretError(`${file} is readable by others: chmod 600 it`);
  return parseWebhookSecrets(readFileSync(file, 'utf8'), file);
}

/** Creates the secret file (owner-only, 0600) unless it exists; returns whether it was created. */
export function ensureCallbackSecretFile(file: string): boolean {
  if (existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0) throw new WebhookSecretError(`${file} is readable by others: chmod 600 it`);
    return false;
  }
  const header = '# The payee bank simulator signs its settlement callbacks with the first secret; the receiver accepts any.\n';
  try {
    writeFileSync(file, `${header}${generateWebhookSecret()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  return true;
}

/** For `npm start`: with no secret configured, the data folder's file (created on the first
 * start); returns what the worker's environment needs to find the same secret. */
export function ensureStackCallbackSecret(sources: CallbackSecretSources, say: (msg: string) => void): NodeJS.ProcessEnv {
  if (sources.SETTLEMENT_CALLBACK_SECRET || sources.SETTLEMENT_CALLBACK_SECRET_FILE) return {};
  const file = defaultCallbackSecretFile(sources.DATA_DIR);
  if (ensureCallbackSecretFile(file))
    say(`created a settlement callback secret in ${file} (the simulator signs with it, the worker verifies)`);
  return { SETTLEMENT_CALLBACK_SECRET_FILE: file };
}
