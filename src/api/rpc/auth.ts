// Bearer API keys: every call carries `authorization: Bearer cpk_...`. The key's companies are the
// caller's scope; anything outside it is answered NOT_FOUND, as if it did not exist. Refusals are
// logged with the method and the key id at most, never the key.
import { Code, ConnectError, createContextKey, type Interceptor } from '@connectrpc/connect';
import type { Logger } from 'pino';
import type { ApiKeyScope, ApiKeyStore } from '../keys.js';
import { API_KEY_LENGTH_MAX } from '../keys.js';

export const scopeKey = createContextKey<ApiKeyScope | null>(null, { description: 'the caller API key scope' });

export function authInterceptor(keys: ApiKeyStore, log: Logger): Interceptor {
  return (next) => async (req) => {
    const header = req.header.get('authorization') ?? '';
    const match = /^Bearer (\S+)$/.exec(header.slice(0, API_KEY_LENGTH_MAX + 16));
    const scope = match ? await keys.verify(match[1]!) : null;
    if (!scope) {
      log.warn(
        { method: req.method.name, reason: header ? 'unknown, revoked or malformed key' : 'no key' },
        'unauthenticated call refused',
      );
      throw new ConnectError('a valid API key is required (authorization: Bearer cpk_...)', Code.Unauthenticated);
    }
    req.contextValues.set(scopeKey, scope);
    return next(req);
  };
}

/** The caller's scope inside a handler (set by authInterceptor). */
export function scopeOf(values: { get<T>(key: { id: symbol; defaultValue: T }): T }): ApiKeyScope {
  const scope = values.get(scopeKey);
  if (!scope) throw new ConnectError('unauthenticated', Code.Unauthenticated);
  return scope;
}
