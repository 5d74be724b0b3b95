// Card rules that depend only on the message: hold expiry and clearing tolerance by merchant
// category, and the boundaries of every network message.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  HOLD_EXPIRY_DAYS_DEFAULT,
  HOLD_EXPIRY_DAYS_LONG,
  authorizationSchema,
  cardPaymentSchema,
  clearingCeilingMinor,
  clearingSchema,
  clearingTolerancePercent,
  holdExpiryMs,
  reversalSchema,
} from '../../src/domain/card.js';
import { AMOUNT_MINOR_MAX } from '../../src/domain/money.js';

const DAY_MS = 86_400_000;

describe('hold expiry by merchant category', () => {
  test('hotels, lodging, car rental and cruise lines hold 30 days; everything else 7', () => {
    for (const mcc of ['3501', '3790', '7011', '3351', '3441', '7512', '4411'])
      assert.equal(holdExpiryMs(mcc), HOLD_EXPIRY_DAYS_LONG * DAY_MS, mcc);
    for (const mcc of ['3500', '3791', '3350', '3442', '5411', '5812', '0000', '9999']) {
      assert.equal(holdExpiryMs(mcc), HOLD_EXPIRY_DAYS_DEFAULT * DAY_MS, mcc);
    }
  });
});

describe('clearing tolerance', () => {
  test('restaurants 20%, lodging and car rental 15%, elsewhere none; rounded down to minor units', () => {
    assert.equal(clearingTolerancePercent('5812'), 20);
    assert.equal(clearingTolerancePercent('7011'), 15);
    assert.equal(clearingTolerancePercent('5411'), 0);
    assert.equal(clearingCeilingMinor(10_000, '5812'), 12_000);
    assert.equal(clearingCeilingMinor(999, '5812'), 1_198);
    assert.equal(clearingCeilingMinor(10_000, '5411'), 10_000);
    assert.ok(Number.isSafeInteger(clearingCeilingMinor(AMOUNT_MINOR_MAX, '5812')));
  });
});

describe('message boundaries', () => {
  const payment = { payment_id: 'txn-1', card_id: 'card-1', currency: 'USD', merchant: { mcc: '5411', name: 'Shop' } };

  test('a well-formed payment and authorization parse; stand-in defaults to decline', () => {
    assert.ok(cardPaymentSchema.safeParse(payment).success);
    const auth = authorizationSchema.parse({ amount_minor: 100, deadline_at_ms: 1_764_000_000_000 });
    assert.equal(auth.stand_in, 'decline');
    assert.equal(clearingSchema.parse({ event_id: 'c1', amount_minor: 1 }).final, true);
    assert.equal(reversalSchema.parse({ event_id: 'r1' }).amount_minor, undefined);
  });

  test('bad input is refused with the field named', () => {
    const bad: Array<[unknown, string]> = [
      [{ ...payment, merchant: { mcc: '541', name: 'Shop' } }, 'merchant.mcc'],
      [{ ...payment, merchant: { mcc: '5411', name: '   ' } }, 'merchant.name'],
      [{ ...payment, merchant: { mcc: '5411', name: 'x'.repeat(141) } }, 'merchant.name'],
      [{ ...payment, currency: 'usd' }, 'currency'],
      [{ ...payment, card_id: 'card 1' }, 'card_id'],
      [{ ...payment, payment_id: 'x'.repeat(65) }, 'payment_id'],
      [{ ...payment, extra: 1 }, ''],
    ];
    for (const [input, path] of bad) {
      const parsed = cardPaymentSchema.safeParse(input);
      assert.equal(parsed.success, false, JSON.stringify(input));
      assert.equal(parsed.error!.issues[0]!.path.join('.'), path, JSON.stringify(input));
    }
    for (const amount_minor of [0, -1, 1.5, AMOUNT_MINOR_MAX + 1, Number.NaN, '100']) {
      assert.equal(authorizationSchema.safeParse({ amount_minor, deadline_at_ms: 1 }).success, false, String(amount_minor));
      assert.equal(clearingSchema.safeParse({ event_id: 'c1', amount_minor }).success, false, String(amount_minor));
    }
    assert.equal(authorizationSchema.safeParse({ amount_minor: 1, deadline_at_ms: 1, stand_in: 'maybe' }).success, false);
    assert.equal(clearingSchema.safeParse({ event_id: 'c1', amount_minor: 1, final: 'yes' }).success, false);
  });
});
