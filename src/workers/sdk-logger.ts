// Routes the Temporal SDK's logs (worker, workflow `log`, activity `log`) into our pino logger,
// keeping the SDK's context attributes (workflow id, run id, activity type...) as fields.
import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import type { Logger } from '../logger.js';
import { isBusinessOutcome } from './business-outcomes.js';

export function createSdkLogger(log: Logger): SdkLogger {
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace',
    DEBUG: 'debug',
    INFO: 'info',
    WARN: 'warn',
    ERROR: 'error',
  };
  // The SDK warns "Activity failed" for every failure; a decline or a bank's rejection is the
  // payment's answer (a business outcome), logged at info so that warnings stay worth reading.
  const emit = (level: LogLevel, message: string, meta?: LogMetadata) =>
    log[level === 'WARN' && isBusinessOutcome(meta?.error) ? 'info' : levels[level]](meta ?? {}, message);
  return {
    log: emit,
    trace: (m, meta) => emit('TRACE', m, meta),
    debug: (m, meta) => emit('DEBUG', m, meta),
    info: (m, meta) => emit('INFO', m, meta),
    warn: (m, meta) => emit('WARN', m, meta),
    error: (m, meta) => emit('ERROR', m, meta),
  };
}
