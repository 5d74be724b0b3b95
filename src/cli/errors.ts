// What the CLI says when something goes wrong, and its exit status: 2 bad usage (refused before
// or by the API as invalid input), 3 refused (not found, not allowed, a key the API does not
// accept, a payment that cannot take the message), 4 unavailable (the API or a dependency cannot be
// reached, or no answer in time; safe to retry with the same ids), 1 anything else.
import { Code, ConnectError } from '@connectrpc/connect';

export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, unavailable: 4 } as const;

/** A failure the CLI has already put in words. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exit_code: number,
  ) {
    super(message);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

export function describeFailure(err: unknown, api_url?: string): { message: string; exit_code: number } {
  if (err instanceof CliError) return { message: err.message, exit_code: err.exit_code };
  if (err instanceof ConnectError) {
    const raw = err.rawMessage;
    switch (err.code) {
      case Code.InvalidArgument:
        return { message: `invalid request: ${raw}`, exit_code: EXIT.usage };
      case Code.Unauthenticated:
        return {
          message: `the API refused the key (unknown, revoked or malformed): pass --key, set CARD_API_KEY, or use the api_key in stack.json`,
          exit_code: EXIT.refused,
        };
      case Code.NotFound:
        return { message: `${raw} (or not visible to this key's companies)`, exit_code: EXIT.refused };
      case Code.FailedPrecondition:
      case Code.AlreadyExists:
      case Code.PermissionDenied:
      case Code.OutOfRange:
        return { message: `refused: ${raw}`, exit_code: EXIT.refused };
      case Code.Unavailable:
        return {
          message: /dependency/.test(raw)
            ? `unavailable: ${raw}`
            : `cannot reach the API${api_url ? ` at ${api_url}` : ''} (${raw}); is \`npm start\` running? (--api or CARD_API_URL)`,
          exit_code: EXIT.unavailable,
        };
      case Code.DeadlineExceeded:
        return { message: `no answer within the deadline (--timeout-ms): ${raw}`, exit_code: EXIT.unavailable };
      case Code.ResourceExhausted:
        return { message: `the API is busy, retry later: ${raw}`, exit_code: EXIT.unavailable };
      default:
        return { message: `the API failed (${Code[err.code]}): ${raw}`, exit_code: EXIT.failed };
    }
  }
  const e = err as { code?: unknown; message?: string };
  if (typeof e.code === 'string' && /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|57P0\d|08\d\d\d)$/.test(e.code)) {
    return { message: `cannot reach the database: ${e.message}`, exit_code: EXIT.unavailable };
  }
  return { message: e.message ?? String(err), exit_code: EXIT.failed };
}
