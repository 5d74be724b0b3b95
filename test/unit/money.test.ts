import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AMOUNT_MINOR_MAX, amountMinorSchema, currencySchema, formatMinor } from '../../src/domain/money.js';
import { payoutRequestSchema } from '../../src/domain/payment.js';

describe('amounts', () => {
  test('accepts integer minor units from 1 to the ceiling', () => {
    assert.equal(amountMinorSchema.parse(1), 1);
    assert.equal(amountMinorSchema.parse(AMOUNT_MINOR_MAX), AMOUNT_MINOR_MAX);
  });

  test('refuses fractions, zero, negatives, over the ceiling, non-numbers, with the rule in the message', () => {
    const cases: Array<[unknown, RegExp]> = [
      [10.5, /integer number of minor units/],
      [0, /greater than zero/],
      [-1, /greater than zero/],
      [AMOUNT_MINOR_MAX + 1, /at most/],
      ['100', /number of minor units/],
      [Number.NaN, /number/],
      [Number.POSITIVE_INFINITY, /./],
      [null, /number of minor units/],
    ];
    for (const [value, message] of cases) {
      const parsed = amountMinorSchema.safeParse(value);
      assert.equal(parsed.success, false, `${String(value)} must be refused`);
      assert.match(parsed.error!.issues[0]!.message, message, String(value));
    }
  });

  test('currencies are the supported ISO 4217 codes only', () => {
    assert.equal(currencySchema.parse('JPY'), 'JPY');
    for (const bad of ['usd', 'XXX', '', 'US', 42]) assert.equal(currencySchema.safeParse(bad).success, false, String(bad));
  });

  test('formatMinor respects the currency exponent', () => {
    assert.equal(formatMinor(123_456, 'USD'), '1234.56 USD');
    assert.equal(formatMinor(5, 'EUR'), '0.05 EUR');
    assert.equal(formatMinor(-250, 'GBP'), '-2.50 GBP');
    assert.equal(formatMinor(1_000, 'JPY'), '1000 JPY');
  });
});

describe('payout requests', () => {
  const good = {
    payment_id: 'pay-1',
    company_id: 'acme',
    account_id: '6f1c1a4e-2b7d-4c1e-9a52-3f0f2b8f6d11',
    amount_minor: 100,
    currency: 'USD',
    payee: { name: 'Supplier', bank_account: 'DE89370400440532013000' },
  };

  test('a well-formed request parses', () => {
    assert.equal(payoutRequestSchema.parse(good).amount_minor, 100);
  });

  test('each malformed field is named', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ payment_id: '' }, 'payment_id'],
      [{ payment_id: 'a'.repeat(65) }, 'payment_id'],
      [{ payment_id: "x'; DROP TABLE--" }, 'payment_id'],
      [{ account_id: 'nope' }, 'account_id'],
      [{ amount_minor: 1.5 }, 'amount_minor'],
      [{ currency: 'ABC' }, 'currency'],
      [{ payee: { name: '', bank_account: 'DE89370400440532013000' } }, 'payee.name'],
      [{ payee: { name: 'x', bank_account: 'de89' } }, 'payee.bank_account'],
      [{ surprise: 1 }, ''],
    ];
    for (const [patch, field] of cases) {
      const parsed = payoutRequestSchema.safeParse({ ...good, ...patch });
      assert.equal(parsed.success, false, JSON.stringify(patch));
      assert.equal(parsed.error!.issues[0]!.path.join('.'), field, JSON.stringify(patch));
    }
  });
});
