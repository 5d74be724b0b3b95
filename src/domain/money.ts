// Money is integer minor units everywhere: no floats ever touch an amount.
// This module is imported by workflow code, so it must stay free of I/O and Node built-ins.
import { z } from 'zod';

/** Largest amount accepted anywhere, in minor units: 10^15 (10 trillion USD). Far below
 * Number.MAX_SAFE_INTEGER, so sums of a few thousand amounts stay exact in a JS number, and
 * far below Postgres bigint, so account counters cannot overflow from honest traffic. */
export const AMOUNT_MINOR_MAX = 1_000_000_000_000_000;

/** ISO 4217 currencies the platform settles, with their minor-unit exponent. */
export const CURRENCY_EXPONENTS = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  CHF: 2,
  CAD: 2,
  AUD: 2,
  SGD: 2,
  JPY: 0,
} as const;

export type Currency = keyof typeof CURRENCY_EXPONENTS;
export const CURRENCIES = Object.keys(CURRENCY_EXPONENTS) as [Currency, ...Currency[]];

export const currencySchema = z.enum(CURRENCIES, {
  error: () => `must be one of the supported ISO 4217 currencies: ${CURRENCIES.join(', ')}`,
});

/** ISO 4217's code for "no currency": the unit of the ledger's spend-limit accounts (counts, and
 * amount limits' headroom), kept out of every real currency's totals. Never a payment's currency. */
export const NO_CURRENCY = 'XXX';
/** What a ledger account or transfer is denominated in: a currency, or no currency. */
export const ledgerCurrencySchema = z.union([currencySchema, z.literal(NO_CURRENCY)], {
  error: () => `must be one of the supported ISO 4217 currencies: ${CURRENCIES.join(', ')} (or ${NO_CURRENCY})`,
});
export type LedgerCurrency = z.output<typeof ledgerCurrencySchema>;

export const amountMinorSchema = z
  .number({ error: 'must be a number of minor units' })
  .int({ error: 'must be an integer number of minor units (no fractions)' })
  .positive({ error: 'must be greater than zero' })
  .max(AMOUNT_MINOR_MAX, { error: `must be at most ${AMOUNT_MINOR_MAX} minor units` });

/** Renders minor units for people: 123456 USD -> "1234.56 USD". Never parse this back. */
export function formatMinor(amount_minor: number, currency: Currency): string {
  const exponent = CURRENCY_EXPONENTS[currency];
  const negative = amount_minor < 0;
  const digits = Math.abs(amount_minor)
    .toString()
    .padStart(exponent + 1, '0');
  const whole = exponent === 0 ? digits : digits.slice(0, -exponent);
  const fraction = exponent === 0 ? '' : `.${digits.slice(-exponent)}`;
  return `${negative ? '-' : ''}${whole}${fraction} ${currency}`;
}
