// The payee-bank simulator's options from the environment (src/config.ts), for `npm start` and
// simulator-main.ts alike.
import type { Config } from '../config.js';
import { loadCallbackSecrets, type CallbackSecretSources } from './callback-secret.js';
import type { SimulatorOptions } from './simulator.js';

/** `callback_url`: where confirmations go; undefined makes the simulator answer at once. With a
 * callback URL the bank's secret (the first one, from `secrets`, default the configuration's) signs
 * the callbacks. */
export function simulatorOptionsFromConfig(
  config: Config,
  callback_url: string | undefined,
  secrets: CallbackSecretSources = config,
): SimulatorOptions {
  return {
    host: config.SETTLEMENT_SIMULATOR_HOST,
    port: config.SETTLEMENT_SIMULATOR_PORT,
    transient_failure_rate: config.SETTLEMENT_SIMULATOR_TRANSIENT_FAILURE_RATE,
    reply_lost_rate: config.SETTLEMENT_SIMULATOR_REPLY_LOST_RATE,
    latency_ms: config.SETTLEMENT_SIMULATOR_LATENCY_MS,
    callback_url,
    callback_secret: callback_url ? loadCallbackSecrets(secrets)[0] : undefined,
    callback_delay_ms: config.SETTLEMENT_SIMULATOR_CALLBACK_DELAY_MS,
    duplicate_callback_rate: config.SETTLEMENT_SIMULATOR_DUPLICATE_CALLBACK_RATE,
    late_callback_rate: config.SETTLEMENT_SIMULATOR_LATE_CALLBACK_RATE,
    late_callback_delay_ms: config.SETTLEMENT_SIMULATOR_LATE_CALLBACK_DELAY_MS,
    request_timeout_rate: config.SETTLEMENT_SIMULATOR_TIMEOUT_RATE,
    request_hold_ms: config.SETTLEMENT_SIMULATOR_TIMEOUT_HOLD_MS,
  };
}

/** The callback receiver's URL as the worker serves it (src/workers/main.ts). */
export function callbackReceiverUrl(config: Config): string {
  return `http://${config.SETTLEMENT_CALLBACK_HOST}:${config.SETTLEMENT_CALLBACK_PORT}/v1/settlement-callbacks`;
}
