// Which browser origins may call the codec server: CODEC_SERVER_UI_ORIGINS, else the dev server's
// Web UI as a browser reaches it (127.0.0.1 and localhost on TEMPORAL_UI_PORT).
import type { Config } from '../config.js';

export function codecUiOrigins(config: Pick<Config, 'CODEC_SERVER_UI_ORIGINS' | 'TEMPORAL_UI_PORT'>): string[] {
  if (config.CODEC_SERVER_UI_ORIGINS) return config.CODEC_SERVER_UI_ORIGINS.split(',');
  return [`http://127.0.0.1:${config.TEMPORAL_UI_PORT}`, `http://localhost:${config.TEMPORAL_UI_PORT}`];
}
