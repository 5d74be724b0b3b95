// The dispute lifecycle's Decider (src/domain/dispute-lifecycle.ts), without Temporal: every path to
// an outcome, the refusals of messages at the wrong stage, refund reductions, and (fast-check) that
// no sequence of commands breaks the money rules: credit held + won + reversed = what was disputed
// once opened, and nothing changes after an outcome.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decide,
  evolveAll,
  initialDisputeState,
  isFinalDispute,
  type DisputeCommand,
  type DisputeState,
} from '../../src/domain/dispute-lifecycle.js';
import { NETWORK_RESPONSES } from '../../src/domain/dispute.js';

function run(commands: DisputeCommand[], start: DisputeState = initialDisputeState('fraudulent', 1_000)): DisputeState {
  let s = start;
  for (const c of commands) {
    const d = decide(s, c);
    assert.ok(!('refused' in d), `refused ${c.kind}: ${'refused' in d ? d.refused : ''}`);
    s = evolveAll(s, d.events);
  }
  return s;
}
const filed: DisputeCommand[] = [{ kind: 'credit_booked' }, { kind: 'chargeback_filed', case_id: 'c1' }];
const represented: DisputeCommand = { kind: 'network_response', response: 'merchant_represented', detail: 'delivered' };

describe('dispute lifecycle', () => {
  test('opened and filed: the company holds the provisional credit', () => {
    const s = run(filed);
    assert.equal(s.status, 'FILED');
    assert.equal(s.credited_minor, 1_000);
  });

  test('merchant accepts: won, the credit is final', () => {
    const s = run([...filed, { kind: 'network_response', response: 'merchant_accepted', detail: '' }]);
    assert.deepEqual([s.status, s.won_minor, s.credited_minor, s.reversed_minor], ['WON', 1_000, 0, 0]);
  });

  test('merchant silent past the representment window: won', () => {
    const s = run([...filed, { kind: 'representment_window_passed' }]);
    assert.equal(s.status, 'WON');
  });

  test('representment goes to pre-arbitration; the network rules won or lost', () => {
    const pre = run([...filed, represented]);
    assert.equal(pre.status, 'PRE_ARBITRATION');
    const won = run([{ kind: 'network_response', response: 'arbitration_won', detail: '' }], pre);
    assert.deepEqual([won.status, won.won_minor], ['WON', 1_000]);
    const lost = run([{ kind: 'network_response', response: 'arbitration_lost', detail: '' }], pre);
    assert.deepEqual([lost.status, lost.reversed_minor, lost.credited_minor], ['LOST', 1_000, 0]);
  });

  test('no ruling past the arbitration window: attention, and the dispute keeps waiting', () => {
    const s = run([...filed, represented, { kind: 'arbitration_window_passed' }]);
    assert.deepEqual([s.status, s.needs_attention], ['PRE_ARBITRATION', true]);
  });

  test('a window that passes after its stage ended changes nothing', () => {
    const s = run([...filed, represented, { kind: 'representment_window_passed' }]);
    assert.equal(s.status, 'PRE_ARBITRATION');
  });

  test('withdrawn while filed or in pre-arbitration: the credit is taken back', () => {
    for (const before of [filed, [...filed, represented]]) {
      const s = run([...before, { kind: 'withdraw', reason: 'found the goods' }]);
      assert.deepEqual([s.status, s.reversed_minor, s.credited_minor], ['WITHDRAWN', 1_000, 0]);
    }
  });

  test('refused by the ledger, or the network refuses the chargeback (the credit is undone)', () => {
    assert.equal(run([{ kind: 'credit_refused', reason: 'over' }]).status, 'REFUSED');
    const s = run([{ kind: 'credit_booked' }, { kind: 'chargeback_refused', reason: '422' }]);
    assert.deepEqual([s.status, s.credited_minor, s.reversed_minor], ['REFUSED', 0, 1_000]);
  });

  test('a refund reduces the dispute; a refund of all of it withdraws it', () => {
    const part = run([...filed, { kind: 'refund_overlap', covered_minor: 400 }]);
    assert.deepEqual([part.status, part.open_minor, part.credited_minor, part.reversed_minor], ['FILED', 600, 600, 400]);
    const won = run([{ kind: 'representment_window_passed' }], part);
    assert.deepEqual([won.status, won.won_minor], ['WON', 600]);
    const all = run([{ kind: 'refund_overlap', covered_minor: 600 }], part);
    assert.deepEqual([all.status, all.open_minor, all.credited_minor, all.reversed_minor], ['WITHDRAWN', 0, 0, 1_000]);
  });

  test('messages at the wrong stage are refused with a reason, and change nothing', () => {
    const opening = initialDisputeState('duplicate', 500);
    for (const c of [
      { kind: 'withdraw', reason: 'x' },
      { kind: 'network_response', response: 'merchant_accepted', detail: '' },
      { kind: 'chargeback_filed', case_id: 'c' },
    ] as DisputeCommand[]) {
      assert.ok('refused' in decide(opening, c), c.kind);
    }
    const won = run([...filed, { kind: 'representment_window_passed' }]);
    for (const c of [
      { kind: 'withdraw', reason: 'x' },
      { kind: 'network_response', response: 'arbitration_lost', detail: '' },
      { kind: 'refund_overlap', covered_minor: 1 },
      { kind: 'credit_booked' },
    ] as DisputeCommand[]) {
      const d = decide(won, c);
      assert.ok('refused' in d, c.kind);
      assert.match(d.refused, /WON|booked/);
    }
    const pre = run([...filed, represented]);
    assert.ok('refused' in decide(pre, { kind: 'network_response', response: 'merchant_accepted', detail: '' }));
    assert.ok('refused' in decide(run(filed), { kind: 'refund_overlap', covered_minor: 1_001 }));
    assert.ok('refused' in decide(run(filed), { kind: 'refund_overlap', covered_minor: 0 }));
  });

  test('a bad amount is refused at the start', () => {
    assert.throws(() => initialDisputeState('other', 0), /positive integer/);
    assert.throws(() => initialDisputeState('other', 1.5), /positive integer/);
  });

  test('property: any sequence keeps credit + won + reversed = disputed, and outcomes are final', () => {
    const command = fc.oneof(
      fc.constant<DisputeCommand>({ kind: 'credit_booked' }),
      fc.constant<DisputeCommand>({ kind: 'chargeback_filed', case_id: 'c' }),
      fc.constant<DisputeCommand>({ kind: 'chargeback_refused', reason: 'r' }),
      fc.constant<DisputeCommand>({ kind: 'representment_window_passed' }),
      fc.constant<DisputeCommand>({ kind: 'arbitration_window_passed' }),
      fc.constant<DisputeCommand>({ kind: 'withdraw', reason: 'w' }),
      fc.constantFrom(...NETWORK_RESPONSES).map<DisputeCommand>((response) => ({ kind: 'network_response', response, detail: '' })),
      fc.integer({ min: 1, max: 1_000 }).map<DisputeCommand>((covered_minor) => ({ kind: 'refund_overlap', covered_minor })),
    );
    fc.assert(
      fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
        let s = initialDisputeState('not_received', 1_000);
        let opened = false;
        for (const c of commands) {
          const d = decide(s, c);
          if ('refused' in d) continue;
          const before = s;
          s = evolveAll(s, d.events);
          if (isFinalDispute(before.status)) assert.deepEqual(s, before, 'an outcome is final');
          opened ||= d.events.some((e) => e.type === 'opened');
          if (opened) assert.equal(s.credited_minor + s.won_minor + s.reversed_minor, 1_000);
          assert.ok(s.open_minor >= 0 && s.credited_minor >= 0);
          if (s.status === 'WON') assert.equal(s.credited_minor, 0);
        }
      }),
    );
  });
});
