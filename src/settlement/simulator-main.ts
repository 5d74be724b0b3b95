// `tsx src/settlement/simulator-main.ts`: the payee-bank simulator as its own process
// (docker-compose; `npm start` runs it in-process).
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startSettlementSimulator } from './simulator.js';

const log = createLogger('settlement-simulator');
const config = loadConfig();
const simulator = await startSettlementSimulator({
  host: config.SETTLEMENT_SIMULATOR_HOST,
  port: config.SETTLEMENT_SIMULATOR_PORT,
  transient_failure_rate: config.SETTLEMENT_SIMULATOR_TRANSIENT_FAILURE_RATE,
  reply_lost_rate: config.SETTLEMENT_SIMULATOR_REPLY_LOST_RATE,
  latency_ms: config.SETTLEMENT_SIMULATOR_LATENCY_MS,
});
log.info({ url: simulator.url }, 'settlement simulator listening');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void simulator.close().then(() => process.exit(0)));
}
