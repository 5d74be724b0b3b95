// The codec server as `npm start` runs it, in the supervisor process (it holds the keys anyway;
// one process fewer): keys from PAYLOAD_CODEC_KEYS / _FILE, else `<DATA_DIR>/payload-codec-keys`,
// created (0600) on the first start; a bearer token generated per start (CODEC_SERVER_TOKEN
// overrides it) for callers other than the Web UI.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Config } from '../config.js';
import { EncryptionCodec } from './encryption-codec.js';
import { defaultKeyFile, ensureKeyFile, loadKeyRing } from './keys.js';
import { codecUiOrigins } from './origins.js';
import { startCodecServer, type CodecServer } from './server.js';

export interface StackCodec {
  server: CodecServer;
  token: string;
  /** What the platform's processes need in their environment to find the same keys. */
  env: NodeJS.ProcessEnv;
  key_source: string;
}

export async function startStackCodec(config: Config, say: (msg: string) => void, logFile: string): Promise<StackCodec> {
  const env: NodeJS.ProcessEnv = {};
  let key_source: string;
  if (config.PAYLOAD_CODEC_KEYS) {
    key_source = 'PAYLOAD_CODEC_KEYS';
  } else if (config.PAYLOAD_CODEC_KEYS_FILE) {
    key_source = config.PAYLOAD_CODEC_KEYS_FILE;
  } else {
    const file = defaultKeyFile(config.DATA_DIR);
    if (ensureKeyFile(file)) say(`created a payload encryption key in ${file} (keep it: payloads stored with it need it)`);
    env.PAYLOAD_CODEC_KEYS_FILE = file;
    key_source = file;
  }
  const ring = loadKeyRing({ ...config, ...(env.PAYLOAD_CODEC_KEYS_FILE ? { PAYLOAD_CODEC_KEYS_FILE: env.PAYLOAD_CODEC_KEYS_FILE } : {}) });
  const token = config.CODEC_SERVER_TOKEN ?? randomBytes(24).toString('base64url');
  const server = await startCodecServer({
    host: config.CODEC_SERVER_HOST,
    port: config.CODEC_SERVER_PORT,
    codec: new EncryptionCodec(ring),
    ui_origins: codecUiOrigins(config),
    token,
    log: pino(
      { level: config.LOG_LEVEL, base: { component: 'codec-server' } },
      pino.destination({ dest: logFile, mkdir: true, sync: false }),
    ),
  });
  return { server, token, env, key_source };
}
