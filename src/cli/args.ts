// Argument parsers for commander: each refuses bad input with a message naming the rule, before
// anything is sent (commander prefixes the option's name, e.g. "option '--amount-minor <n>'").
import { InvalidArgumentError } from 'commander';
import { AMOUNT_MINOR_MAX, CURRENCIES } from '../domain/money.js';
import { paymentIdSchema } from '../domain/payment.js';
import { spendLimitSchema, type SpendLimit } from '../domain/spend-limits.js';
import { describeIssue } from '../domain/validation.js';

/** A positive integer number of minor units (cents for USD): 1250 is 12.50 USD. */
export function minorUnits(value: string): bigint {
  if (!/^[0-9]+$/.test(value.trim())) {
    throw new InvalidArgumentError(`must be a positive integer number of minor units (e.g. 1250 for 12.50 USD), got "${value}"`);
  }
  const n = BigInt(value.trim());
  if (n <= 0n) throw new InvalidArgumentError('must be greater than zero');
  if (n > BigInt(AMOUNT_MINOR_MAX)) throw new InvalidArgumentError(`must be at most ${AMOUNT_MINOR_MAX} minor units`);
  return n;
}

export function integerIn(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

export function currency(value: string): string {
  const upper = value.trim().toUpperCase();
  if (!(CURRENCIES as readonly string[]).includes(upper)) {
    throw new InvalidArgumentError(`must be one of ${CURRENCIES.join(', ')}, got "${value}"`);
  }
  return upper;
}

export function mcc(value: string): string {
  if (!/^[0-9]{4}$/.test(value)) throw new InvalidArgumentError(`must be four digits (ISO 18245 merchant category), got "${value}"`);
  return value;
}

/** Repeatable option: `--block-mcc 7995 --block-mcc 5813`. */
export function mccList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((v) => mcc(v.trim()))];
}

/** Repeatable option collecting strings: `--company a --company b` or `--company a,b`. */
export function list(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== ''),
  ];
}

export function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`must be a URL such as http://127.0.0.1:7470, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`must be an http:// or https:// URL`);
  return value.replace(/\/+$/, '');
}

/** Repeatable option: a spend limit as `<window>:<measure>:<limit>[:<mcc>,<mcc>...]`, e.g.
 * `day:amount:50000`, `month:count:100`, `week:amount:20000:5812,5813`; checked by the domain's
 * own schema, so the CLI refuses exactly what the API would. */
export function spendLimitList(value: string, previous: SpendLimit[] | undefined): SpendLimit[] {
  const [window, measure, limit, mccs, ...rest] = value.trim().split(':');
  if (rest.length > 0 || limit === undefined || !/^[0-9]+$/.test(limit)) {
    throw new InvalidArgumentError(`must be <window>:<measure>:<limit>[:<mcc>,<mcc>...] (e.g. day:amount:50000), got "${value}"`);
  }
  const parsed = spendLimitSchema.safeParse({
    window,
    measure,
    limit: Number(limit),
    mccs: mccs === undefined ? [] : mccs.split(',').map((m) => m.trim()),
  });
  if (!parsed.success) throw new InvalidArgumentError(describeIssue(parsed.error, `"${value}": `));
  return [...(previous ?? []), parsed.data];
}

/** A company id (the same alphabet as payment ids), checked here where it goes into a query. */
export function companyId(value: string): string {
  const parsed = paymentIdSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'is not a company id');
  return parsed.data;
}
