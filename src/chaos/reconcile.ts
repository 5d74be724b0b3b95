// Ledger-wide reconciliation after a chaos run: the whole ledger, not payment by payment.
//   - every transfer belongs to a payment the run made, to the run's setup (the credit-line
//     grants) or to the network settlement schedule (a daily wire, when a run crosses its cutoff,
//     and the cycle's won chargebacks moved onto network payable: none, a run opens no dispute);
//   - every account's posted balance equals what the run's acknowledged outcomes imply, and no
//     account has anything pending (every hold resolved): each company's credit line, network
//     payable, payouts payable, the settlement bank (also equal to what the bank says it paid),
//     the issuance account; nothing extra, nothing missing.
import { TransferCode } from '../domain/ledger.js';
import type { Pool } from '../ledger/db.js';
import { PLATFORM_ACCOUNT_KINDS } from '../ledger/accounts.js';
import { creditLineAccountId, platformAccountId } from '../ledger/ids.js';
import type { Ledger } from '../ledger/ledger.js';
import { CURRENCY, type Fixtures, type PaymentRecord } from './driver.js';

export interface Reconciliation {
  reconciled: boolean;
  /** Per account: the posted balance (credits - debits) the run implies, and the ledger's. */
  accounts: Record<string, { expected_posted_minor: number; posted_minor: number; pending_minor: number }>;
  /** Transfers that belong to no payment of the run and no setup step. */
  foreign_transfers: number;
  problems: string[];
}

export interface ReconcileInput {
  pool: Pool;
  ledger: Ledger;
  fixtures: Fixtures;
  /** What the run granted each company at setup. */
  grants_minor: { company: number; tiny_company: number };
  /** What the bank simulator says it paid, in all. */
  bank_paid_minor: number;
}

/** The company whose credit line a path draws on (the declined paths overrun the tiny one). */
export function companyOf(record: Pick<PaymentRecord, 'kind'>, fixtures: Fixtures): string {
  return record.kind === 'card_decline' || record.kind === 'payout_decline' ? fixtures.tiny_company : fixtures.company;
}

export async function reconcileLedger(records: readonly PaymentRecord[], input: ReconcileInput): Promise<Reconciliation> {
  const problems: string[] = [];
  const { fixtures } = input;
  const account = {
    company: creditLineAccountId(fixtures.company, CURRENCY),
    tiny_company: creditLineAccountId(fixtures.tiny_company, CURRENCY),
    issuance: platformAccountId('credit_line_issuance', CURRENCY),
    payouts_payable: platformAccountId('payouts_payable', CURRENCY),
    settlement_bank: platformAccountId('settlement_bank', CURRENCY),
    network_payable: platformAccountId('network_payable', CURRENCY),
    overlimit: platformAccountId('card_overlimit_receivable', CURRENCY),
  };
  // Every other platform account (billing's fee income, the disputes' receivables and allowance)
  // is set up with the currency; the run's paths move nothing through them.
  const others: Record<string, string> = {};
  for (const kind of PLATFORM_ACCOUNT_KINDS) {
    const id = platformAccountId(kind, CURRENCY);
    if (!Object.values(account).includes(id)) others[kind] = id;
  }
  const names = new Map([...Object.entries(account), ...Object.entries(others)].map(([name, id]) => [id, name]));

  // 1. Every transfer is the run's: its payments, its grants, or the network settlement wire.
  const runPayments = new Set(records.map((r) => r.payment_id));
  const { rows: groups } = await input.pool.query<{ payment_id: string | null; code: number; n: number; amount: string }>(
    `SELECT payment_id, code, count(*)::int AS n, sum(amount)::text AS amount FROM ledger.transfers GROUP BY payment_id, code`,
  );
  let foreign = 0;
  let wires_minor = 0;
  let chargebacks_settled_minor = 0;
  let grants = 0;
  for (const g of groups) {
    if (g.payment_id !== null && runPayments.has(g.payment_id)) continue;
    if (g.code === TransferCode.credit_line_grant) {
      grants += g.n;
      continue;
    }
    if (g.code === TransferCode.network_settlement) {
      wires_minor += Number(g.amount);
      continue;
    }
    // A cycle's won chargebacks (none in a chaos run, which opens no dispute) moved onto payable.
    if (g.code === TransferCode.network_chargeback_settlement) {
      chargebacks_settled_minor += Number(g.amount);
      continue;
    }
    foreign += g.n;
    problems.push(`${g.n} transfers of code ${g.code} with payment id ${JSON.stringify(g.payment_id)}: not a payment of this run`);
  }
  if (grants !== 2) problems.push(`${grants} credit-line grants, the run made 2`);

  // 2. The balances the acknowledged outcomes imply. Card spend moves company -> network payable
  // (refunds back); a payout company -> payouts payable -> settlement bank (a compensated one nets
  // to zero). The network settlement wire moves network payable -> settlement bank.
  const expected = new Map<string, number>([...Object.values(account), ...Object.values(others)].map((id) => [id, 0]));
  const add = (id: string, minor: number) => expected.set(id, (expected.get(id) ?? 0) + minor);
  add(account.issuance, -(input.grants_minor.company + input.grants_minor.tiny_company));
  add(account.company, input.grants_minor.company);
  add(account.tiny_company, input.grants_minor.tiny_company);
  let bankPaidExpected = 0;
  let unknown = 0;
  for (const r of records) {
    const e = r.expected;
    if (!e) {
      if (r.acked.length > 0) unknown += 1;
      continue;
    }
    const company = companyOf(r, fixtures) === fixtures.company ? account.company : account.tiny_company;
    add(company, -e.net_charged_minor);
    if (r.kind.startsWith('payout_')) {
      const paid = e.bank_paid_minor ?? 0;
      add(account.payouts_payable, e.net_charged_minor - paid);
      add(account.settlement_bank, paid);
      bankPaidExpected += paid;
    } else {
      add(account.network_payable, e.net_charged_minor);
    }
  }
  add(account.network_payable, -wires_minor);
  add(account.settlement_bank, wires_minor);
  add(account.network_payable, -chargebacks_settled_minor);
  add(others.chargeback_receivable!, chargebacks_settled_minor);
  if (unknown > 0) problems.push(`${unknown} acknowledged payments with no known outcome: their effect cannot be reconciled`);
  if (bankPaidExpected !== input.bank_paid_minor) {
    problems.push(`the bank paid ${input.bank_paid_minor} in all; the settled payouts imply ${bankPaidExpected}`);
  }

  // 3. The ledger's balances, every account of it.
  const { rows: ids } = await input.pool.query<{ id: string }>('SELECT id FROM ledger.accounts ORDER BY id');
  const accounts: Reconciliation['accounts'] = {};
  for (const { id } of ids) {
    const name = names.get(id) ?? `unexpected account ${id}`;
    const b = await input.ledger.getBalance(id);
    if (!b) throw new Error(`account ${id} listed but has no balance`);
    const posted = Number(b.posted);
    const pending = Number(b.debits_pending + b.credits_pending);
    const want = expected.get(id);
    accounts[name] = { expected_posted_minor: want ?? 0, posted_minor: posted, pending_minor: pending };
    if (want === undefined) problems.push(`${name}: not an account of this run`);
    else if (posted !== want) problems.push(`${name}: posted balance ${posted}, the run's outcomes imply ${want}`);
    if (pending !== 0) problems.push(`${name}: ${pending} still pending after every payment finished`);
  }
  for (const [id, want] of expected) {
    if (!ids.some((row) => row.id === id) && want !== 0) problems.push(`${names.get(id)}: missing, the run implies ${want}`);
  }
  return { reconciled: problems.length === 0, accounts, foreign_transfers: foreign, problems };
}
