// Model-based property test: random sequences of batches — plain, pending, post (full and
// partial), void, linked chains, retries of earlier transfers with the same or changed fields,
// resubmissions of whole earlier batches — applied to the real ledger and to a small in-memory
// reference model written from DESIGN.md section 4. Results and balances must agree after every
// batch, and the verifier must pass at the end. A second property does the same for spend-limit
// chains (below).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { AccountFlags, TransferCode, TransferFlags, type TransferResult } from '../../src/domain/ledger.js';
import type { SpendLimit } from '../../src/domain/spend-limits.js';
import type { Pool } from '../../src/ledger/db.js';
import { createLedger, type Ledger, type TransferInput } from '../../src/ledger/ledger.js';
import { applicableLimits, limitSetup, limitUses, openUses, postUses, releaseUses } from '../../src/ledger/spend-limits.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { freshDatabase } from '../support/env.js';

let pool: Pool;
let ledger: Ledger;
before(async () => {
  ({ pool } = await freshDatabase('ledger_model'));
  ledger = createLedger(pool);
});
after(async () => {
  await pool.end();
});

// ---- the reference model -------------------------------------------------------------------
interface MAccount {
  currency: string;
  flags: number;
  dp: bigint;
  dpo: bigint;
  cp: bigint;
  cpo: bigint;
}
interface MTransfer {
  id: string;
  dr: string;
  cr: string;
  amount: number;
  currency: string;
  code: number;
  flags: number;
  pending_id: string | null;
}

class Model {
  accounts = new Map<string, MAccount>();
  transfers = new Map<string, MTransfer>();
  resolved = new Map<string, 'posted' | 'voided'>();
  failed = new Map<string, TransferResult>();
  static RECORDED = new Set([
    'debit_account_not_found',
    'credit_account_not_found',
    'pending_transfer_not_found',
    'account_closed',
    'exceeds_credits',
    'exceeds_debits',
    'overflows',
  ]);

  one(t: TransferInput): TransferResult {
    const flags = t.flags ?? 0;
    const old = this.transfers.get(t.id);
    if (old) {
      if (flags !== old.flags) return 'exists_with_different_flags';
      if ((t.pending_id ?? null) !== old.pending_id) return 'exists_with_different_pending_id';
      if (t.debit_account_id !== undefined && t.debit_account_id !== old.dr) return 'exists_with_different_debit_account_id';
      if (t.credit_account_id !== undefined && t.credit_account_id !== old.cr) return 'exists_with_different_credit_account_id';
      if (t.amount_minor !== undefined && t.amount_minor !== old.amount) return 'exists_with_different_amount';
      if (t.currency !== undefined && t.currency !== old.currency) return 'exists_with_different_currency';
      if (t.code !== old.code) return 'exists_with_different_code';
      return 'exists';
    }
    if (this.failed.has(t.id)) return 'id_already_failed';
    const isPost = (flags & TransferFlags.post_pending) !== 0;
    const isVoid = (flags & TransferFlags.void_pending) !== 0;
    if (isPost || isVoid) {
      const p = this.transfers.get(t.pending_id!);
      if (!p) return 'pending_transfer_not_found';
      if (!(p.flags & TransferFlags.pending)) return 'pending_transfer_not_pending';
      const r = this.resolved.get(p.id);
      if (r) return r === 'posted' ? 'pending_transfer_already_posted' : 'pending_transfer_already_voided';
      if (t.amount_minor !== undefined && t.amount_minor <= 0) return 'amount_must_be_positive';
      if (t.amount_minor !== undefined && t.amount_minor > p.amount) return 'exceeds_pending_transfer_amount';
      const dr = this.accounts.get(p.dr)!;
      const cr = this.accounts.get(p.cr)!;
      if (isPost && (dr.flags & AccountFlags.closed || cr.flags & AccountFlags.closed)) return 'account_closed';
      const amount = isPost ? (t.amount_minor ?? p.amount) : p.amount;
      dr.dp -= BigInt(p.amount);
      cr.cp -= BigInt(p.amount);
      if (isPost) {
        dr.dpo += BigInt(amount);
        cr.cpo += BigInt(amount);
      }
      this.transfers.set(t.id, { id: t.id, dr: p.dr, cr: p.cr, amount, currency: p.currency, code: t.code, flags, pending_id: p.id });
      this.resolved.set(p.id, isPost ? 'posted' : 'voided');
      return 'created';
    }
    const amount = t.amount_minor!;
    if (amount <= 0) return 'amount_must_be_positive';
    if (t.debit_account_id === t.credit_account_id) return 'accounts_must_be_different';
    const dr = this.accounts.get(t.debit_account_id!);
    if (!dr) return 'debit_account_not_found';
    const cr = this.accounts.get(t.credit_account_id!);
    if (!cr) return 'credit_account_not_found';
    if (dr.currency !== t.currency || cr.currency !== t.currency) return 'currency_mismatch';
    if (dr.flags & AccountFlags.closed || cr.flags & AccountFlags.closed) return 'account_closed';
    const pending = (flags & TransferFlags.pending) !== 0;
    const a = BigInt(amount);
    const drAfter = { dp: dr.dp + (pending ? a : 0n), dpo: dr.dpo + (pending ? 0n : a) };
    const crAfter = { cp: cr.cp + (pending ? a : 0n), cpo: cr.cpo + (pending ? 0n : a) };
    if (dr.flags & AccountFlags.debits_must_not_exceed_credits && drAfter.dp + drAfter.dpo > dr.cpo) return 'exceeds_credits';
    if (cr.flags & AccountFlags.credits_must_not_exceed_debits && crAfter.cp + crAfter.cpo > cr.dpo) return 'exceeds_debits';
    Object.assign(dr, drAfter);
    Object.assign(cr, crAfter);
    this.transfers.set(t.id, {
      id: t.id,
      dr: t.debit_account_id!,
      cr: t.credit_account_id!,
      amount,
      currency: t.currency!,
      code: t.code,
      flags,
      pending_id: null,
    });
    return 'created';
  }

  batch(transfers: TransferInput[]): TransferResult[] {
    const results: TransferResult[] = [];
    let i = 0;
    while (i < transfers.length) {
      let end = i;
      while (end < transfers.length && (transfers[end]!.flags ?? 0) & TransferFlags.linked) end += 1;
      if (end === transfers.length) {
        for (let k = i; k < transfers.length; k += 1) results[k] = 'linked_event_chain_open';
        break;
      }
      const snapshot = this.snapshot();
      let failedAt = -1;
      for (let k = i; k <= end; k += 1) {
        results[k] = this.one(transfers[k]!);
        if (results[k] !== 'created' && results[k] !== 'exists') {
          failedAt = k;
          break;
        }
      }
      if (failedAt >= 0) {
        const failing = results[failedAt]!;
        if (end > i) {
          this.restore(snapshot);
          for (let k = i; k <= end; k += 1) if (k !== failedAt) results[k] = 'linked_event_failed';
        }
        if (Model.RECORDED.has(failing)) this.failed.set(transfers[failedAt]!.id, failing);
      }
      i = end + 1;
    }
    return results;
  }

  snapshot() {
    return {
      accounts: new Map([...this.accounts].map(([k, v]) => [k, { ...v }])),
      transfers: new Map(this.transfers),
      resolved: new Map(this.resolved),
    };
  }

  restore(s: ReturnType<Model['snapshot']>) {
    this.accounts = s.accounts;
    this.transfers = s.transfers;
    this.resolved = s.resolved;
  }
}

// ---- generated commands --------------------------------------------------------------------
const ACCOUNT_COUNT = 6;
type Spec =
  | {
      op: 'transfer';
      kind: 'plain' | 'pending';
      dr: number;
      cr: number;
      amount: number;
      currency: 'USD' | 'EUR';
      linked: boolean;
      code: number;
    }
  | { op: 'resolve'; kind: 'post' | 'void'; pending: number; amount: number | null; linked: boolean; code: number }
  | { op: 'retry'; of: number; mutate: 'none' | 'amount' | 'code' };

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('transfer' as const),
      kind: fc.constantFrom('plain' as const, 'pending' as const),
      dr: fc.nat(ACCOUNT_COUNT + 1),
      cr: fc.nat(ACCOUNT_COUNT + 1),
      amount: fc.integer({ min: -2, max: 400 }),
      currency: fc.constantFrom('USD' as const, 'USD' as const, 'EUR' as const),
      linked: fc.boolean(),
      code: fc.constantFrom(1, 2),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('resolve' as const),
      kind: fc.constantFrom('post' as const, 'void' as const),
      pending: fc.nat(50),
      amount: fc.option(fc.integer({ min: -1, max: 400 }), { nil: null }),
      linked: fc.boolean(),
      code: fc.constantFrom(1, 2),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('retry' as const),
      of: fc.nat(50),
      mutate: fc.constantFrom('none' as const, 'none' as const, 'amount' as const, 'code' as const),
    }),
  },
);
const programArb = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.array(specArb, { minLength: 1, maxLength: 6 }).map((specs) => ({ kind: 'batch' as const, specs })) },
    { weight: 1, arbitrary: fc.nat(20).map((of) => ({ kind: 'resubmit' as const, of })) },
  ),
  { minLength: 1, maxLength: 14 },
);

test('the ledger agrees with the reference model on random programs', async () => {
  await fc.assert(
    fc.asyncProperty(programArb, async (program) => {
      const model = new Model();
      // Account 0 issues credit; 1-2 are credit lines; 3 may not be credited past its debits; 4 is
      // plain; 5 is closed; 6 is EUR.
      const ids: string[] = Array.from({ length: ACCOUNT_COUNT + 1 }, () => randomUUID());
      const accountSpecs = [
        { flags: 0, currency: 'USD' },
        { flags: AccountFlags.debits_must_not_exceed_credits, currency: 'USD' },
        { flags: AccountFlags.debits_must_not_exceed_credits, currency: 'USD' },
        { flags: AccountFlags.credits_must_not_exceed_debits, currency: 'USD' },
        { flags: 0, currency: 'USD' },
        { flags: AccountFlags.closed, currency: 'USD' },
        { flags: 0, currency: 'EUR' },
      ] as const;
      await ledger.createAccounts(accountSpecs.map((a, i) => ({ id: ids[i]!, currency: a.currency, code: 1, flags: a.flags })));
      accountSpecs.forEach((a, i) =>
        model.accounts.set(ids[i]!, { currency: a.currency, flags: a.flags, dp: 0n, dpo: 0n, cp: 0n, cpo: 0n }),
      );
      const unknownAccount = randomUUID();
      // Seed: grant 1000 to each credit line, so limits bite sometimes but not always.
      const seed: TransferInput[] = [1, 2].map((i) => ({
        id: randomUUID(),
        debit_account_id: ids[0]!,
        credit_account_id: ids[i]!,
        amount_minor: 1_000,
        currency: 'USD',
        code: 9,
      }));
      assert.deepEqual(
        (await ledger.createTransfers(seed)).map((r) => r.result),
        model.batch(seed),
      );

      const sent: TransferInput[] = [];
      const batches: TransferInput[][] = [];
      for (const step of program) {
        let batch: TransferInput[];
        if (step.kind === 'resubmit') {
          if (batches.length === 0) continue;
          batch = batches[step.of % batches.length]!;
        } else {
          batch = step.specs.flatMap((s): TransferInput[] => {
            if (s.op === 'transfer') {
              // Index ACCOUNT_COUNT + 1 names an account that does not exist.
              const account = (i: number) => ids[i] ?? unknownAccount;
              return [
                {
                  id: randomUUID(),
                  debit_account_id: account(s.dr),
                  credit_account_id: account(s.cr),
                  amount_minor: s.amount,
                  currency: s.currency,
                  code: s.code,
                  flags: (s.kind === 'pending' ? TransferFlags.pending : 0) | (s.linked ? TransferFlags.linked : 0),
                },
              ];
            }
            if (s.op === 'resolve') {
              const pendings = sent.filter((t) => (t.flags ?? 0) & TransferFlags.pending);
              const pending_id = pendings.length > 0 && s.pending < 45 ? pendings[s.pending % pendings.length]!.id : randomUUID();
              return [
                {
                  id: randomUUID(),
                  pending_id,
                  code: s.code,
                  flags:
                    (s.kind === 'post' ? TransferFlags.post_pending : TransferFlags.void_pending) | (s.linked ? TransferFlags.linked : 0),
                  ...(s.amount !== null && s.kind === 'post' ? { amount_minor: s.amount } : {}),
                },
              ];
            }
            if (sent.length === 0) return [];
            const original = sent[s.of % sent.length]!;
            if (s.mutate === 'none') return [original];
            if (s.mutate === 'code') return [{ ...original, code: original.code === 1 ? 2 : 1 }];
            return original.amount_minor === undefined ? [original] : [{ ...original, amount_minor: original.amount_minor + 1 }];
          });
          if (batch.length === 0) continue;
          batches.push(batch);
          sent.push(...batch);
        }
        const actual = (await ledger.createTransfers(batch)).map((r) => r.result);
        const expected = model.batch(batch);
        assert.deepEqual(actual, expected, `results of batch ${JSON.stringify(batch)}`);
        const stored = await ledger.getAccounts(ids);
        for (const a of stored) {
          const m = model.accounts.get(a.id)!;
          assert.deepEqual(
            [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted],
            [m.dp, m.dpo, m.cp, m.cpo],
            `counters of account ${ids.indexOf(a.id)}`,
          );
        }
      }
    }),
    { numRuns: Number(process.env.LEDGER_MODEL_RUNS ?? 200), verbose: 1 },
  );
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, []);
});

// ---- spend limits --------------------------------------------------------------------------
// Random authorizations (several chains per batch: concurrent ones meet in one transaction),
// releases, clearings and limit changes on a card with an amount and a count limit per day, as
// the card activities write them (src/ledger/spend-limits.ts), against a model that approves an
// authorization exactly when the limits and the credit line have room for it.
const limitOpArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 4 })
      .map((amounts) => ({ op: 'authorize' as const, amounts })),
  },
  { weight: 2, arbitrary: fc.nat(20).map((k) => ({ op: 'release' as const, k })) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.nat(20), percent: fc.integer({ min: 1, max: 100 }) }).map((c) => ({ op: 'clear' as const, ...c })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ amount: fc.integer({ min: 1, max: 1_500 }), count: fc.integer({ min: 1, max: 6 }) })
      .map((l) => ({ op: 'limits' as const, ...l })),
  },
);

test('spend-limit chains agree with a model of the limits on random programs', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 100, max: 1_500 }),
      fc.integer({ min: 1, max: 6 }),
      fc.array(limitOpArb, { minLength: 1, maxLength: 12 }),
      async (amountLimit, countLimit, program) => {
        const [issuer, line, payable] = [randomUUID(), randomUUID(), randomUUID()];
        await ledger.createAccounts([
          { id: issuer, currency: 'USD', code: 10 },
          { id: line, currency: 'USD', code: 1, flags: AccountFlags.debits_must_not_exceed_credits },
          { id: payable, currency: 'USD', code: 40 },
        ]);
        await ledger.createTransfers([
          { id: randomUUID(), debit_account_id: issuer, credit_account_id: line, amount_minor: 2_000, currency: 'USD', code: 1 },
        ]);
        const card = {
          card_id: `c-${randomUUID()}`,
          company_id: 'co-model',
          currency: 'USD' as const,
          spend_limits: [] as SpendLimit[],
          company_spend_limits: [],
        };
        const setLimits = (amount: number, count: number) => {
          card.spend_limits = [
            { window: 'day', measure: 'amount', limit: amount, mccs: [] },
            { window: 'day', measure: 'count', limit: count, mccs: [] },
          ];
        };
        setLimits(amountLimit, countLimit);
        const at_ms = Date.UTC(2026, 11, 2, 12);
        const windows = applicableLimits(card, '5411', at_ms);
        const setup = limitSetup(windows);
        await ledger.createAccounts(setup.accounts);
        await ledger.createTransfers(setup.grants);
        // The model: what each window and the credit line hold, and each open hold.
        const m = { amount: 0, count: 0, line: 0 };
        const holds: Array<{ payment_id: string; amount: number }> = [];
        let n = 0;
        for (const step of program) {
          if (step.op === 'limits') {
            setLimits(step.amount, step.count);
            continue;
          }
          if (step.op === 'authorize') {
            const limits = applicableLimits(card, '5411', at_ms);
            const chains = step.amounts.map((amount) => {
              const payment_id = `${card.card_id}-p${(n += 1)}`; // unique across runs: they share the database
              const uses = limitUses(payment_id, 'authorization', limits, amount, true).chain;
              const hold = {
                id: randomUUID(),
                debit_account_id: line,
                credit_account_id: payable,
                amount_minor: amount,
                currency: 'USD' as const,
              };
              return {
                payment_id,
                amount,
                chain: [...uses, { ...hold, code: TransferCode.card_hold, flags: TransferFlags.pending, payment_id }],
              };
            });
            const outcomes = await ledger.createTransfers(chains.flatMap((c) => c.chain));
            let at = 0;
            for (const c of chains) {
              const approved = outcomes.slice(at, at + c.chain.length).every((o) => o.result === 'created');
              at += c.chain.length;
              const fits =
                m.amount + c.amount <= card.spend_limits[0]!.limit &&
                m.count + 1 <= card.spend_limits[1]!.limit &&
                m.line + c.amount <= 2_000;
              assert.equal(
                approved,
                fits,
                `authorization of ${c.amount} with ${JSON.stringify(m)} under ${JSON.stringify(card.spend_limits)}`,
              );
              if (approved) {
                m.amount += c.amount;
                m.count += 1;
                m.line += c.amount;
                holds.push({ payment_id: c.payment_id, amount: c.amount });
              }
            }
          } else {
            if (holds.length === 0) continue;
            const [hold] = holds.splice(step.k % holds.length, 1);
            const transfers = await ledger.getPaymentTransfers(hold!.payment_id);
            const holdTransfer = transfers.find((t) => t.code === TransferCode.card_hold)!;
            const uses = openUses(transfers);
            const cleared = step.op === 'clear' ? Math.max(1, Math.floor((hold!.amount * step.percent) / 100)) : 0;
            const chain: TransferInput[] =
              step.op === 'clear'
                ? [
                    ...postUses(hold!.payment_id, uses, cleared),
                    {
                      id: randomUUID(),
                      pending_id: holdTransfer.id,
                      amount_minor: cleared,
                      code: TransferCode.card_clearing,
                      flags: TransferFlags.post_pending,
                    },
                  ]
                : [
                    ...releaseUses(hold!.payment_id, uses),
                    {
                      id: randomUUID(),
                      pending_id: holdTransfer.id,
                      code: TransferCode.card_hold_release,
                      flags: TransferFlags.void_pending,
                    },
                  ];
            const outcomes = await ledger.createTransfers(chain);
            assert.ok(
              outcomes.every((o) => o.result === 'created'),
              JSON.stringify(outcomes),
            );
            // A clearing keeps what it posted and the count; a release gives all back.
            m.amount -= hold!.amount - cleared;
            m.count -= step.op === 'clear' ? 0 : 1;
            m.line -= hold!.amount - cleared;
          }
          const [amountWindow, countWindow] = await ledger
            .getAccounts([windows[0]!.account_id, windows[1]!.account_id])
            .then((accounts) => windows.map((w) => accounts.find((a) => a.id === w.account_id)!));
          assert.equal(Number(amountWindow!.debits_pending + amountWindow!.debits_posted), m.amount, 'amount window');
          assert.equal(Number(countWindow!.debits_pending + countWindow!.debits_posted), m.count, 'count window');
        }
      },
    ),
    { numRuns: Number(process.env.LEDGER_MODEL_RUNS ?? 100) / 2, verbose: 1 },
  );
  const report = await verifyLedger(pool);
  assert.deepEqual(report.violations, []);
});
