// The checker, after every payment was sent and every fault played: waits for each payment's final
// state (through the API), then checks, per payment and for the whole ledger:
//   - final: the payment reached a final state (else not_final);
//   - consistent: the state the acknowledged calls imply (status, posted, refunded) — else an
//     invariant violation;
//   - lost: a payment with an acknowledged call that the platform does not know (NOT_FOUND), or
//     whose acknowledged money movements are missing from its ledger transfers;
//   - duplicated: more ledger transfers of a code than its path makes (a step booked twice), or a
//     payout the bank paid more than once or paid when it should not have;
//   - the ledger verifier (DESIGN.md invariants 1-4) and the per-payment check (invariant 5);
//   - bad input: the fuzzers' violations, and no fuzz id written to the ledger.
import { CHARGE_CODES, CREDIT_BACK_CODES } from '../domain/ledger.js';
import type { Pool } from '../ledger/db.js';
import type { Ledger } from '../ledger/ledger.js';
import { paymentLedgerTotals } from '../ledger/payment-check.js';
import { verifyLedger } from '../ledger/verify.js';
import type { SettlementSimulator } from '../settlement/simulator.js';
import type { PaymentRecord } from './driver.js';
import type { FuzzReport } from './fuzz.js';

export interface CheckResult {
  final: number;
  not_final: number;
  lost: number;
  duplicated_transfers: number;
  invariant_violations: number;
  /** Stand-in declines the platform holds no record of (nothing held, which is all a decline does). */
  stand_in_unrecorded: number;
  /** What each count is made of (the first of each kind). */
  problems: string[];
  verifier: { ok: boolean; accounts: number; transfers: number; violations: number };
}

function multiset(codes: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const c of codes) m.set(c, (m.get(c) ?? 0) + 1);
  return m;
}

export async function checkRun(
  records: readonly PaymentRecord[],
  deps: { pool: Pool; ledger: Ledger; simulator: SettlementSimulator; fuzz: FuzzReport | null; api_internal_errors: number },
): Promise<CheckResult> {
  const problems: string[] = [];
  const note = (msg: string) => {
    if (problems.length < 300) problems.push(msg);
  };
  let final = 0;
  let not_final = 0;
  let lost = 0;
  let duplicated = 0;
  let violations = 0;
  let stand_in_unrecorded = 0;

  for (const r of records) {
    const acknowledged = r.acked.length > 0;
    const transfers = await deps.ledger.getPaymentTransfers(r.payment_id);
    const totals = paymentLedgerTotals(transfers);
    const state = r.state;
    if (r.done) final += 1;
    else if (state || !acknowledged) {
      not_final += 1;
      note(`${r.payment_id} (${r.kind}) not final: ${state?.status ?? 'never acknowledged'}${r.error ? `; ${r.error}` : ''}`);
    }
    if (acknowledged && !state && r.stand_in && transfers.length === 0) {
      // The network was answered the stand-in decline and nothing was held: the decline's whole
      // effect. The platform shows no such payment when the authorization never reached the
      // workflow (lost with a restart after the stand-in was answered): the workflow, if it
      // started, closes DECLINED (no_first_message) after first_event_wait_ms.
      final += 1;
      stand_in_unrecorded += 1;
      continue;
    }
    if (acknowledged && !state) {
      lost += 1;
      note(`${r.payment_id} (${r.kind}) lost: ${r.acked.length} acknowledged calls, the API says ${r.wait_error ?? 'nothing'}`);
      continue;
    }
    if (r.error) {
      violations += 1;
      note(`${r.payment_id} (${r.kind}) unexpected answer: ${r.error}`);
    }
    const e = r.expected;
    if (!state || !e) continue;

    // The acknowledged calls' effects, in the platform's state and in its ledger.
    const posted = Number(state.postedMinor);
    const refunded = Number(state.refundedMinor);
    const net_state = posted - Number(state.reversedMinor) - refunded;
    if (r.done && (state.status !== e.status || posted !== e.posted_minor || refunded !== e.refunded_minor)) {
      violations += 1;
      note(
        `${r.payment_id} (${r.kind}) ended ${state.status} posted ${posted} refunded ${refunded}; its acknowledged calls say ${e.status} posted ${e.posted_minor} refunded ${e.refunded_minor}`,
      );
    }
    if (totals.net_charged_minor !== net_state || (r.done && totals.held_minor !== Number(state.heldMinor))) {
      violations += 1;
      note(
        `${r.payment_id} (${r.kind}) ledger charged ${totals.net_charged_minor} held ${totals.held_minor}, its state ${net_state} held ${state.heldMinor}`,
      );
    }
    const charged = transfers.filter((t) => CHARGE_CODES.has(t.code)).reduce((a, t) => a + t.amount_minor, 0);
    const credited = transfers.filter((t) => CREDIT_BACK_CODES.has(t.code)).reduce((a, t) => a + t.amount_minor, 0);
    if (r.done && (charged < e.posted_minor || credited < e.refunded_minor + (e.posted_minor - e.net_charged_minor - e.refunded_minor))) {
      lost += 1;
      note(`${r.payment_id} (${r.kind}) acknowledged movements missing from the ledger: charged ${charged}, credited back ${credited}`);
    }

    // No step booked twice: the transfer codes are one of the path's multisets; extra ones are duplicates.
    if (r.done) {
      const got = multiset(transfers.map((t) => t.code));
      const matches = e.codes.some((alt) => {
        const want = multiset(alt);
        return want.size === got.size && [...want].every(([c, n]) => got.get(c) === n);
      });
      if (!matches) {
        const want = multiset(e.codes[e.codes.length - 1]!);
        let extra = 0;
        for (const [c, n] of got) extra += Math.max(0, n - (want.get(c) ?? 0));
        if (extra > 0) {
          duplicated += extra;
          note(
            `${r.payment_id} (${r.kind}) transfers ${transfers.map((t) => t.code).join(',')}, its path makes ${e.codes.map((a) => `[${a.join(',')}]`).join(' or ')}`,
          );
        } else {
          violations += 1;
          note(
            `${r.payment_id} (${r.kind}) transfers ${transfers.map((t) => t.code).join(',')} short of ${e.codes.map((a) => `[${a.join(',')}]`).join(' or ')}`,
          );
        }
      }
    }

    // The bank: a payout is paid once, and only when it settled.
    if (e.bank_paid_minor !== null) {
      const key = `payout:${r.payment_id}`;
      const paid = deps.simulator.settled.get(key)?.amount_minor ?? 0;
      if (r.done && paid !== e.bank_paid_minor) {
        if (paid > e.bank_paid_minor) duplicated += 1;
        else lost += 1;
        note(`${r.payment_id} (${r.kind}) the bank paid ${paid}, expected ${e.bank_paid_minor}`);
      }
    }
  }

  const report = await verifyLedger(deps.pool);
  if (!report.ok) {
    violations += report.violations.length;
    for (const v of report.violations.slice(0, 20)) note(`ledger verifier: ${JSON.stringify(v)}`);
  }
  if (deps.fuzz) {
    violations += deps.fuzz.violations.length;
    for (const v of deps.fuzz.violations.slice(0, 20)) note(`fuzz: ${v}`);
    const written = await deps.pool.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM ledger.transfers WHERE payment_id LIKE 'fuzz%' OR id = ANY($1::uuid[]))
            + (SELECT count(*) FROM ledger.accounts WHERE id = ANY($1::uuid[])) AS n`,
      [deps.fuzz.ledger_ids],
    );
    const n = Number(written.rows[0]?.n ?? 0);
    if (n > 0) {
      violations += n;
      note(`fuzz: ${n} rows written by bad input`);
    }
  }
  if (deps.api_internal_errors > 0) {
    violations += deps.api_internal_errors;
    note(`the API answered INTERNAL ${deps.api_internal_errors} times (see api.log)`);
  }
  return {
    final,
    not_final,
    lost,
    duplicated_transfers: duplicated,
    invariant_violations: violations,
    stand_in_unrecorded,
    problems,
    verifier: { ok: report.ok, accounts: report.accounts, transfers: report.transfers, violations: report.violations.length },
  };
}
