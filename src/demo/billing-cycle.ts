// The demo's billing cycle (issue 15): two companies with seconds-long cycles, through the API.
// `payer` spends (a card purchase cleared by the network, a payout), its statement closes from
// the ledger, and on the due date a direct debit collects it and restores its credit line. `late`
// spends and pays nothing: after the grace period its statement is past due, its card is frozen
// and a late fee charged; the demo then pays by bank transfer (RecordRepayment) and the card is
// unfrozen. The billing workflows are cancelled at the end (production: they run for years).
import type { Client } from '@temporalio/client';
import type { ApiClients } from '../cli/client.js';
import { billingWorkflowId } from '../domain/billing.js';
import { StatementStatus, type Statement } from '../gen/cardplatform/billing/v1/billing_pb.js';
import { CardStatus } from '../gen/cardplatform/cards/v1/cards_pb.js';

/** The demo's cycle: closes this long after its start (seconds, where production has a month). */
const DEMO_CYCLE_MS = 6_000;
const DEMO_DUE_AFTER_MS = 1_000;
const DEMO_GRACE_MS = 2_000;
const DEMO_CUTOFF_LAG_MS = 200;
const LIMIT_MINOR = 100_000;
const SPEND_MINOR = 20_000;

export interface BillingCompany {
  company_id: string;
  card_id: string;
}

export interface BillingOutcome {
  statements: { closed: number; paid: number; past_due: number };
  /** What did not happen as it should (empty: the cycle played as described above). */
  problems: string[];
}

export function billingCompanies(run: string): { payer: BillingCompany; late: BillingCompany } {
  return {
    payer: { company_id: `demo-${run}-payer`, card_id: `demo-${run}-payer-card` },
    late: { company_id: `demo-${run}-late`, card_id: `demo-${run}-late-card` },
  };
}

async function until<T>(what: string, deadline_ms: number, read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline_ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 1_000)));
  }
}

export async function playBillingCycle(
  api: ApiClients,
  client: Client,
  companies: { payer: BillingCompany; late: BillingCompany },
  deadline_ms: number,
  progress: (msg: string) => void,
): Promise<BillingOutcome> {
  const problems: string[] = [];
  const { payer, late } = companies;
  const accounts = new Map<string, string>();
  for (const [company, mandate] of [
    [payer, { debtorName: 'Demo Payer Ltd', bankAccount: 'GB33BUKB20201555555555' }],
    [late, undefined],
  ] as const) {
    const line = await api.ledger.createCreditLine({
      companyId: company.company_id,
      currency: 'USD',
      limitMinor: BigInt(LIMIT_MINOR),
      grantKey: 'demo',
    });
    accounts.set(company.company_id, line.account!.accountId);
    await api.cards.issueCard({ cardId: company.card_id, companyId: company.company_id, currency: 'USD' });
    // Spending inside the first cycle: a payout from the credit line, settled by the bank.
    await api.payments.payout({
      paymentId: `${company.company_id}-supplies`,
      companyId: company.company_id,
      amountMinor: BigInt(SPEND_MINOR),
      currency: 'USD',
      payee: { name: 'Paper Supplies Ltd', bankAccount: 'GB29NWBK60161331926819' },
    });
    await until(
      `the payout of ${company.company_id}`,
      deadline_ms,
      () => api.payments.getPayment({ paymentId: `${company.company_id}-supplies` }),
      (r) => r.payment?.status === 'SETTLED',
    );
    await api.billing.startBilling({
      companyId: company.company_id,
      currency: 'USD',
      policy: {
        cycle: { kind: { case: 'fixedLengthMs', value: BigInt(DEMO_CYCLE_MS) } },
        dueAfterMs: BigInt(DEMO_DUE_AFTER_MS),
        graceMs: BigInt(DEMO_GRACE_MS),
        cutoffLagMs: BigInt(DEMO_CUTOFF_LAG_MS),
        ...(mandate ? { directDebit: mandate } : {}),
      },
    });
  }
  progress(
    `billing: ${payer.company_id} (direct debit) and ${late.company_id} (pays late) spent ${SPEND_MINOR} each; cycles close in ${DEMO_CYCLE_MS / 1000} s`,
  );

  const first = async (company: BillingCompany): Promise<Statement | undefined> =>
    (await api.billing.listStatements({ companyId: company.company_id, currency: 'USD', pageSize: 100 })).statements.find(
      (s) => s.cycleNumber === 1,
    );
  try {
    // payer: closed, collected by direct debit, line restored.
    const paid = await until(
      `${payer.company_id}'s statement paid by direct debit`,
      deadline_ms,
      () => first(payer),
      (s) => s?.status === StatementStatus.PAID,
    );
    const { account } = await api.ledger.getAccount({ accountId: accounts.get(payer.company_id)! });
    progress(
      `billing: ${paid!.statementId} closed at ${paid!.closingBalanceMinor}, collected by direct debit; line available ${account?.availableMinor}`,
    );
    if (!paid!.events.some((e) => e.type === 'statement.debit_collected'))
      problems.push(`${paid!.statementId} was paid without its direct debit`);
    if (account?.availableMinor !== BigInt(LIMIT_MINOR)) {
      problems.push(`${payer.company_id}'s line is ${account?.availableMinor}, not restored to ${LIMIT_MINOR}`);
    }

    // late: past due, card frozen, late fee; pays; unfrozen.
    const past = await until(
      `${late.company_id}'s statement past due`,
      deadline_ms,
      () => first(late),
      (s) => s?.events.some((e) => e.type === 'statement.late_fee_charged') ?? false,
    );
    const frozen = await until(
      `${late.company_id}'s card frozen`,
      deadline_ms,
      () => api.cards.getCard({ cardId: late.card_id }),
      (r) => r.card !== undefined,
    );
    progress(
      `billing: ${past!.statementId} past due, card ${frozen.card?.status === CardStatus.FROZEN ? 'frozen' : 'NOT frozen'}, late fee charged; paying ${past!.closingBalanceMinor} by bank transfer`,
    );
    if (frozen.card?.status !== CardStatus.FROZEN) problems.push(`${late.card_id} was not frozen while past due`);
    await api.billing.recordRepayment({
      companyId: late.company_id,
      currency: 'USD',
      idempotencyKey: 'demo-transfer-1',
      amountMinor: past!.closingBalanceMinor,
    });
    await until(
      `${late.company_id}'s statement paid`,
      deadline_ms,
      () => first(late),
      (s) => s?.status === StatementStatus.PAID,
    );
    await until(
      `${late.card_id} unfrozen`,
      deadline_ms,
      () => api.cards.getCard({ cardId: late.card_id }),
      (r) => r.card?.status === CardStatus.ACTIVE,
    );
    progress(`billing: ${past!.statementId} paid, ${late.card_id} unfrozen`);
  } catch (err) {
    problems.push((err as Error).message);
  } finally {
    // The demo's cycles end with it (seconds-long cycles would otherwise go on closing statements).
    for (const company of [payer, late]) {
      await client.workflow
        .getHandle(billingWorkflowId(company.company_id, 'USD'))
        .cancel()
        .catch(() => undefined);
    }
  }
  const statements = (
    await Promise.all([payer, late].map((c) => api.billing.listStatements({ companyId: c.company_id, currency: 'USD', pageSize: 100 })))
  ).flatMap((r) => r.statements);
  return {
    statements: {
      closed: statements.length,
      paid: statements.filter((s) => s.status === StatementStatus.PAID).length,
      past_due: statements.filter((s) => s.events.some((e) => e.type === 'statement.past_due')).length,
    },
    problems,
  };
}
