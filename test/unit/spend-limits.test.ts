// Spend limits without I/O: UTC windows and their edges, names, validation, and the chain a hold
// carries (src/domain/spend-limits.ts, src/ledger/spend-limits.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TransferFlags } from '../../src/domain/ledger.js';
import {
  SPEND_LIMIT_AMOUNT_MAX,
  spendLimitName,
  spendLimitsSchema,
  windowEndMs,
  windowLabel,
  windowStartMs,
  type SpendLimit,
} from '../../src/domain/spend-limits.js';
import { applicableLimits, limitUses } from '../../src/ledger/spend-limits.js';

const at = (iso: string) => Date.parse(iso);
const limit = (l: Partial<SpendLimit>): SpendLimit => ({ window: 'day', measure: 'amount', limit: 100, mccs: [], ...l });

describe('UTC windows', () => {
  test('day, ISO week (from Monday), month and all time, at their edges', () => {
    assert.equal(windowStartMs('day', at('2026-12-02T23:59:59.999Z')), at('2026-12-02T00:00:00Z'));
    assert.equal(windowStartMs('day', at('2026-12-03T00:00:00Z')), at('2026-12-03T00:00:00Z'));
    // 2026-12-06 is a Sunday, 2026-12-07 a Monday.
    assert.equal(windowStartMs('week', at('2026-12-06T23:59:59.999Z')), at('2026-11-30T00:00:00Z'));
    assert.equal(windowStartMs('week', at('2026-12-07T00:00:00Z')), at('2026-12-07T00:00:00Z'));
    assert.equal(windowStartMs('week', at('1970-01-01T12:00:00Z')), at('1969-12-29T00:00:00Z'));
    assert.equal(windowStartMs('month', at('2026-12-31T23:59:59.999Z')), at('2026-12-01T00:00:00Z'));
    assert.equal(windowStartMs('month', at('2027-01-01T00:00:00Z')), at('2027-01-01T00:00:00Z'));
    assert.equal(windowStartMs('month', at('2028-02-29T12:00:00Z')), at('2028-02-01T00:00:00Z'));
    assert.equal(windowStartMs('all_time', at('2026-12-02T12:00:00Z')), 0);
    assert.equal(windowEndMs('month', at('2028-02-10T00:00:00Z')), at('2028-03-01T00:00:00Z'));
    assert.equal(windowEndMs('week', at('2026-12-02T00:00:00Z')), at('2026-12-07T00:00:00Z'));
    assert.equal(windowEndMs('all_time', 5), null);
  });

  test('labels name the window, not the moment', () => {
    assert.equal(windowLabel('day', at('2026-12-02T18:00:00Z')), '2026-12-02');
    assert.equal(windowLabel('week', at('2026-12-02T18:00:00Z')), 'week-2026-11-30');
    assert.equal(windowLabel('month', at('2026-12-02T18:00:00Z')), '2026-12');
    assert.equal(windowLabel('all_time', at('2026-12-02T18:00:00Z')), 'all');
  });

  test('a time that is not epoch milliseconds is refused', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) assert.throws(() => windowStartMs('day', bad), RangeError);
  });
});

describe('limits', () => {
  test('merchant categories are sorted and deduplicated, and the name shows them', () => {
    const [parsed] = spendLimitsSchema.parse([{ window: 'week', measure: 'count', limit: 3, mccs: ['5813', '5812', '5813'] }]);
    assert.deepEqual(parsed!.mccs, ['5812', '5813']);
    assert.equal(spendLimitName('company', parsed!), 'spend_limit:company:week:count:mcc=5812+5813');
    assert.equal(spendLimitName('card', limit({})), 'spend_limit:card:day:amount');
  });

  test('the same window, measure and categories twice is refused; other categories are another limit', () => {
    assert.equal(spendLimitsSchema.safeParse([limit({}), limit({ limit: 5 })]).success, false);
    assert.equal(spendLimitsSchema.safeParse([limit({}), limit({ mccs: ['5812'] })]).success, true);
  });

  test('only the limits of the merchant category apply, card first then company; windows differ by time', () => {
    const card = {
      card_id: 'c-1',
      company_id: 'co-1',
      currency: 'USD' as const,
      spend_limits: [limit({ mccs: ['5812'] }), limit({ window: 'month' })],
      company_spend_limits: [limit({ measure: 'count' })],
    };
    const groceries = applicableLimits(card, '5411', at('2026-12-02T12:00:00Z'));
    assert.deepEqual(
      groceries.map((a) => a.name),
      ['spend_limit:card:month:amount', 'spend_limit:company:day:count'],
    );
    const today = applicableLimits(card, '5812', at('2026-12-02T23:59:59.999Z'));
    const tomorrow = applicableLimits(card, '5812', at('2026-12-03T00:00:00Z'));
    assert.equal(today.length, 3);
    assert.notEqual(today[0]!.account_id, tomorrow[0]!.account_id, 'a new day is a new account');
    assert.equal(today[1]!.account_id, tomorrow[1]!.account_id, 'the month goes on');
    assert.notEqual(today[0]!.source_id, today[2]!.source_id, 'each scope has its own source');
  });

  test("a hold's chain: a use per limit, a probe (voided) only for a limit below the headroom, all linked", () => {
    const card = {
      card_id: 'c-1',
      company_id: 'co-1',
      currency: 'USD' as const,
      spend_limits: [limit({ limit: 700 }), limit({ window: 'week', limit: SPEND_LIMIT_AMOUNT_MAX })],
      company_spend_limits: [],
    };
    const limits = applicableLimits(card, '5411', at('2026-12-02T12:00:00Z'));
    const { chain, refusals } = limitUses('p-1', 'authorization', limits, 250, true);
    assert.deepEqual(
      chain.map((t) => [t.amount_minor, t.flags]),
      [
        [250, TransferFlags.pending | TransferFlags.linked],
        [SPEND_LIMIT_AMOUNT_MAX - 700, TransferFlags.pending | TransferFlags.linked],
        [undefined, TransferFlags.void_pending | TransferFlags.linked],
        [250, TransferFlags.pending | TransferFlags.linked],
      ],
    );
    assert.equal(chain[2]!.pending_id, chain[1]!.id);
    assert.equal(refusals.get(chain[1]!.id), 'spend_limit:card:day:amount');
    assert.equal(refusals.get(chain[3]!.id), 'spend_limit:card:week:amount');
    assert.equal(limitUses('p-1', 'authorization', limits, 250, false).chain.length, 2, 'an unchecked use has no probe');
    assert.deepEqual(
      limitUses('p-1', 'authorization', limits, 250, true).chain.map((t) => t.id),
      chain.map((t) => t.id),
      'ids are derived, not drawn',
    );
  });
});
