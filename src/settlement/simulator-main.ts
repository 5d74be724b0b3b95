// `tsx src/settlement/simulator-main.ts`: the payee-bank simulator as its own process
// (docker-compose; `npm start` runs it in-process).
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startSettlementSimulator } from './simulator.js';
import { simulatorOptionsFromConfig } from './simulator-config.js';

const log = createLogger('settlement-simulator');
const config = loadConfig();
// Confirms by callback when SETTLEMENT_SIMULATOR_CALLBACK_URL is set (to the worker's receiver),
// signed with SETTLEMENT_CALLBACK_SECRET / _FILE (the worker verifies with the same secret).
const callbackUrl = config.SETTLEMENT_SIMULATOR_MODE === 'callback' ? config.SETTLEMENT_SIMULATOR_CALLBACK_URL : undefined;
const simulator = await startSettlementSimulator(simulatorOptionsFromConfig(config, callbackUrl));
log.info({ url: simulator.url, callback_url: callbackUrl ?? null }, 'settlement simulator listening');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void simulator.close().then(() => process.exit(0)));
}
