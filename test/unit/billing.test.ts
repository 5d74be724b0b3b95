// The billing domain without Temporal: cycle ends, minimum due, statement ids, the policy's limits,
// and the statement decider (decide/evolve) through every path the workflow interprets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  StatementCommandRefused,
  billingPolicySchema,
  cycleEndMs,
  debitKeySchema,
  decideStatement,
  evolveStatement,
  initialStatementState,
  minimumDueMinor,
  statementIdSchema,
  type StatementCommand,
  type StatementState,
} from '../../src/domain/billing.js';

/** Decides and applies, as the workflow does; returns the event types and the new state. */
function step(state: StatementState, command: StatementCommand): { types: string[]; state: StatementState } {
  const events = decideStatement(state, command);
  return { types: events.map((e) => e.type), state: events.reduce(evolveStatement, state) };
}

function closed(closing: number, minimum = closing, frozen = false): StatementState {
  return step(initialStatementState({ frozen }), {
    type: 'close',
    statement: { cycle_number: 1, closing_balance_minor: closing, minimum_due_minor: minimum },
  }).state;
}

describe('billing cycles', () => {
  test('fixed cycles close every length after the start', () => {
    const start = Date.parse('2026-01-10T12:00:00.000Z');
    assert.equal(cycleEndMs({ kind: 'fixed', length_ms: 5_000 }, start, 1), start + 5_000);
    assert.equal(cycleEndMs({ kind: 'fixed', length_ms: 5_000 }, start, 3), start + 15_000);
  });

  test('monthly cycles close at 00:00 UTC on the closing day after the start, across the year end', () => {
    const start = Date.parse('2026-11-20T08:00:00.000Z');
    const monthly = { kind: 'monthly' as const, closing_day: 15 };
    assert.equal(new Date(cycleEndMs(monthly, start, 1)).toISOString(), '2026-12-15T00:00:00.000Z');
    assert.equal(new Date(cycleEndMs(monthly, start, 2)).toISOString(), '2027-01-15T00:00:00.000Z');
    assert.equal(new Date(cycleEndMs(monthly, Date.parse('2026-11-15T00:00:00.000Z'), 1)).toISOString(), '2026-12-15T00:00:00.000Z');
    assert.throws(() => cycleEndMs(monthly, start, 0), /cycle_number/);
  });

  test('minimum due: a share rounded up, at least the floor, never more than the balance, zero when nothing is owed', () => {
    assert.equal(minimumDueMinor(40_001, { minimum_due_percent: 10, minimum_due_floor_minor: 0 }), 4_001);
    assert.equal(minimumDueMinor(5_000, { minimum_due_percent: 10, minimum_due_floor_minor: 1_000 }), 1_000);
    assert.equal(minimumDueMinor(500, { minimum_due_percent: 10, minimum_due_floor_minor: 1_000 }), 500);
    assert.equal(minimumDueMinor(0, { minimum_due_percent: 100, minimum_due_floor_minor: 1_000 }), 0);
    assert.equal(minimumDueMinor(-300, { minimum_due_percent: 100, minimum_due_floor_minor: 0 }), 0);
    assert.equal(minimumDueMinor(1_000_000_000_000_000, { minimum_due_percent: 100, minimum_due_floor_minor: 0 }), 1_000_000_000_000_000);
  });

  test('a policy whose due date and grace do not fit in the cycle is refused, naming the field', () => {
    const bad = billingPolicySchema.safeParse({
      cycle: { kind: 'fixed', length_ms: 10_000 },
      due_after_ms: 6_000,
      grace_ms: 4_000,
      cutoff_lag_ms: 0,
    });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error?.issues[0]?.path, ['due_after_ms']);
    assert.equal(billingPolicySchema.safeParse({ cycle: { kind: 'monthly', closing_day: 29 } }).success, false);
    assert.equal(billingPolicySchema.safeParse({ late_fee_minor: -1 }).success, false);
    assert.equal(billingPolicySchema.safeParse({ direct_debit: { debtor_name: 'x', bank_account: 'has spaces' } }).success, false);
    const defaults = billingPolicySchema.parse({});
    assert.deepEqual(defaults.cycle, { kind: 'monthly', closing_day: 1 });
    assert.equal(defaults.minimum_due_percent, 100);
  });

  test('statement ids and debit keys name company, currency and cycle; anything else is refused', () => {
    assert.deepEqual(statementIdSchema.parse('acme.eu:1/EUR/12'), { company_id: 'acme.eu:1', currency: 'EUR', cycle_number: 12 });
    assert.deepEqual(debitKeySchema.parse('debit:acme/USD/1'), { company_id: 'acme', currency: 'USD', cycle_number: 1 });
    for (const bad of ['acme/USD', 'acme/USD/0', 'acme/XXX/1', 'acme/USD/1/2', '/USD/1', 'acme/USD/01']) {
      assert.equal(statementIdSchema.safeParse(bad).success, false, bad);
    }
    assert.equal(debitKeySchema.safeParse('payout:acme/USD/1').success, false);
  });
});

describe('the statement decider', () => {
  test('a statement with nothing owed is paid at its close', () => {
    const r = step(initialStatementState({ frozen: false }), {
      type: 'close',
      statement: { cycle_number: 1, closing_balance_minor: 0, minimum_due_minor: 0 },
    });
    assert.deepEqual(r.types, ['statement.closed', 'statement.paid']);
    assert.equal(r.state.status, 'PAID');
  });

  test('on time: due -> debit requested -> collected -> paid', () => {
    let s = closed(20_000);
    assert.equal(s.status, 'OPEN');
    let r = step(s, { type: 'due', has_mandate: true });
    assert.deepEqual(r.types, ['statement.debit_requested']);
    s = r.state;
    r = step(s, { type: 'debit_answered', answer: { status: 'collected', bank_reference: 'B1' }, amount_minor: 20_000 });
    assert.deepEqual(r.types, ['statement.debit_collected']);
    s = r.state;
    // A repeated callback changes nothing.
    assert.deepEqual(
      step(s, { type: 'debit_answered', answer: { status: 'collected', bank_reference: 'B1' }, amount_minor: 20_000 }).types,
      [],
    );
    r = step(s, { type: 'payments', paid_minor: 20_000 });
    assert.deepEqual(r.types, ['statement.payment_received', 'statement.paid']);
    assert.equal(r.state.status, 'PAID');
    assert.deepEqual(step(r.state, { type: 'grace_over', late_fee_minor: 2_500 }).types, ['statement.grace_ended']);
    assert.deepEqual(step(r.state, { type: 'roll_over' }).types, []);
  });

  test('no mandate, or nothing left to collect: no debit', () => {
    assert.deepEqual(step(closed(20_000), { type: 'due', has_mandate: false }).types, []);
    const paid = step(closed(20_000), { type: 'payments', paid_minor: 20_000 }).state;
    assert.deepEqual(step(paid, { type: 'due', has_mandate: true }).types, []);
  });

  test('partial payment: the minimum by the grace period is no dunning', () => {
    const r = step(closed(40_000, 4_000), { type: 'payments', paid_minor: 5_000 });
    assert.deepEqual(r.types, ['statement.payment_received', 'statement.minimum_paid']);
    assert.deepEqual(step(r.state, { type: 'grace_over', late_fee_minor: 2_500 }).types, ['statement.grace_ended']);
    assert.deepEqual(step(r.state, { type: 'roll_over' }).types, [], 'the rest carries over in the next opening balance');
    const unpaid = step(closed(40_000, 4_000), { type: 'payments', paid_minor: 3_000 });
    assert.deepEqual(unpaid.types, ['statement.payment_received']);
    assert.deepEqual(step(unpaid.state, { type: 'roll_over' }).types, ['statement.carried_over']);
  });

  test('dunning: reminder, past due, freeze, one late fee; paying the minimum unfreezes', () => {
    let r = step(closed(10_000, 1_000), { type: 'grace_over', late_fee_minor: 2_500 });
    assert.deepEqual(r.types, [
      'statement.grace_ended',
      'statement.reminder',
      'statement.past_due',
      'statement.cards_frozen',
      'statement.late_fee_charged',
    ]);
    assert.equal(r.state.status, 'PAST_DUE');
    assert.equal(r.state.frozen, true);
    assert.deepEqual(step(r.state, { type: 'grace_over', late_fee_minor: 2_500 }).types, [], 'dunning runs once');
    r = step(r.state, { type: 'payments', paid_minor: 1_000 });
    assert.deepEqual(r.types, ['statement.payment_received', 'statement.minimum_paid', 'statement.cards_unfrozen']);
    assert.equal(r.state.frozen, false);
    r = step(r.state, { type: 'payments', paid_minor: 10_000 });
    assert.deepEqual(r.types, ['statement.payment_received', 'statement.paid']);
  });

  test('no late fee when the policy has none; no second freeze when frozen already', () => {
    const r = step(closed(10_000, 10_000, true), { type: 'grace_over', late_fee_minor: 0 });
    assert.deepEqual(r.types, ['statement.grace_ended', 'statement.reminder', 'statement.past_due']);
  });

  test('a returned debit before the grace period reopens the statement; after it, past due and frozen again without a second fee', () => {
    let s = step(closed(20_000), { type: 'due', has_mandate: true }).state;
    s = step(s, { type: 'debit_answered', answer: { status: 'collected', bank_reference: 'B' }, amount_minor: 20_000 }).state;
    s = step(s, { type: 'payments', paid_minor: 20_000 }).state;
    let r = step(s, { type: 'debit_answered', answer: { status: 'returned', reason: 'r' }, amount_minor: 20_000 });
    assert.deepEqual(r.types, ['statement.debit_returned']);
    r = step(r.state, { type: 'payments', paid_minor: 0 });
    assert.deepEqual(r.types, ['statement.payment_received']);
    assert.equal(r.state.status, 'OPEN');
    r = step(r.state, { type: 'grace_over', late_fee_minor: 2_500 });
    assert.deepEqual(r.types, [
      'statement.grace_ended',
      'statement.reminder',
      'statement.past_due',
      'statement.cards_frozen',
      'statement.late_fee_charged',
    ]);

    // Returned after the grace period: the paid statement is past due again.
    let late = step(closed(20_000), { type: 'payments', paid_minor: 20_000 }).state;
    late = step(late, { type: 'grace_over', late_fee_minor: 2_500 }).state;
    late = { ...late, debit: 'collected' };
    r = step(late, { type: 'payments', paid_minor: 0 });
    assert.deepEqual(r.types, ['statement.payment_received', 'statement.past_due', 'statement.cards_frozen']);
    // A return with nothing collected is ignored.
    assert.deepEqual(step(closed(1), { type: 'debit_answered', answer: { status: 'returned', reason: 'r' }, amount_minor: 1 }).types, []);
  });

  test('a frozen company whose next statement is paid is unfrozen', () => {
    const r = step(closed(5_000, 5_000, true), { type: 'payments', paid_minor: 5_000 });
    assert.deepEqual(r.types, ['statement.payment_received', 'statement.paid', 'statement.cards_unfrozen']);
  });

  test('commands out of order or malformed are refused', () => {
    const none = initialStatementState({ frozen: false });
    assert.throws(() => decideStatement(none, { type: 'due', has_mandate: true }), StatementCommandRefused);
    assert.throws(
      () => decideStatement(closed(1), { type: 'close', statement: { cycle_number: 2, closing_balance_minor: 1, minimum_due_minor: 1 } }),
      /already closed/,
    );
    assert.throws(
      () => decideStatement(none, { type: 'close', statement: { cycle_number: 1, closing_balance_minor: 100, minimum_due_minor: 101 } }),
      /minimum due/,
    );
    assert.throws(() => decideStatement(closed(1), { type: 'payments', paid_minor: 0.5 }), /safe integer/);
  });
});
