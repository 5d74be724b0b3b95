// Transfer ids derived from payment and step: unambiguous, and unchanged for every (payment,
// step) that was already unambiguous, so a step retried across a deploy finds its transfer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { holdKey, transferId, uuidV5 } from '../../src/ledger/ids.js';

/** The derivation before canonical ids: plain concatenation. The oracle for compatibility. */
const legacy = (payment_id: string, step: string) => uuidV5(`transfer:${payment_id}:${step}`);

describe('transfer ids', () => {
  test('every unambiguous (payment, step) keeps the id it had before', () => {
    const payments = ['p-123', 'bench-6f1c1a4e-2b7d-4c1e-9a52-3f0f2b8f6d11', 'credit-line:6f1c1a4e-2b7d-4c1e-9a52-3f0f2b8f6d11', 'a.b_c'];
    for (const p of payments) {
      for (const step of ['payout_hold', 'payout_posting', 'payout_hold_release', 'payout_reversal', 'payout_settlement'] as const) {
        assert.equal(transferId(p, step), legacy(p, step), `${p} ${step}`);
      }
      for (const event of ['authorization', 'authorization:stand_in', 'increment:e7', 'reversal:r1', 'clearing:c1', 'refund:f1']) {
        assert.equal(transferId(p, 'card_clearing', event), legacy(p, `card_clearing:${event}`));
        assert.equal(transferId(p, 'card_refund', event), legacy(p, `card_refund:${event}`));
        assert.equal(transferId(p, 'card_hold', holdKey(event)), legacy(p, `card_hold:${event}`));
        assert.equal(transferId(p, 'card_hold', holdKey(event, 'kept')), legacy(p, `card_hold:${event}:kept`));
        assert.equal(transferId(p, 'card_hold_release', holdKey(event, 'overlimit')), legacy(p, `card_hold_release:${event}:overlimit`));
      }
    }
    const account = '6f1c1a4e-2b7d-4c1e-9a52-3f0f2b8f6d11';
    assert.equal(transferId(`credit-line:${account}`, 'grant', 'initial'), legacy(`credit-line:${account}`, 'grant:initial'));
    assert.equal(transferId('network-settlement:2026-12-01:USD', 'wire'), legacy('network-settlement:2026-12-01:USD', 'wire'));
  });

  test('a hold of event `x:kept` and the kept hold of event `x` get different ids', () => {
    assert.notEqual(
      transferId('p', 'card_hold', holdKey('clearing:c1:kept')),
      transferId('p', 'card_hold', holdKey('clearing:c1', 'kept')),
    );
    assert.notEqual(
      transferId('p', 'card_hold', holdKey('increment:e1:overlimit')),
      transferId('p', 'card_hold', holdKey('increment:e1', 'overlimit')),
    );
    assert.notEqual(holdKey('a%3Akept'), holdKey('a:kept'));
  });

  test('a payment id that contains a step name cannot borrow another payment step', () => {
    // Before: 'transfer:a:card_hold:payout_hold' for both.
    assert.notEqual(transferId('a:card_hold', 'payout_hold'), transferId('a', 'card_hold', 'payout_hold'));
    assert.notEqual(transferId('a:grant', 'wire'), transferId('a', 'grant', 'wire'));
  });

  test('an unknown step is refused', () => {
    assert.throws(() => transferId('p', 'card_hold:e1' as 'card_hold'), /step/);
  });
});
