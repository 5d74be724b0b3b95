// `npm run codec-server`: the codec server on its own, for a Temporal deployment `npm start` does
// not run (npm start runs one itself). Keys as every worker reads them; CODEC_SERVER_TOKEN for
// callers other than the Web UI (unset: only the UI origins may call it).
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { EncryptionCodec } from './encryption-codec.js';
import { loadKeyRing } from './keys.js';
import { codecUiOrigins } from './origins.js';
import { startCodecServer } from './server.js';

const log = createLogger('codec-server');
const config = loadConfig();
const ring = loadKeyRing(config);
const server = await startCodecServer({
  host: config.CODEC_SERVER_HOST,
  port: config.CODEC_SERVER_PORT,
  codec: new EncryptionCodec(ring),
  ui_origins: codecUiOrigins(config),
  token: config.CODEC_SERVER_TOKEN ?? null,
  log,
});
log.info(
  { url: server.url, ui_origins: codecUiOrigins(config), keys: [...ring.keys.keys()], active: ring.active_key_id },
  'codec server listening',
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void server.close().then(() => process.exit(0)));
}
