// The ledger verifier: checks DESIGN.md invariants 1-4 against the database. `npm run
// ledger:verify` prints its report; tests call verifyLedger and assert it is clean.
import { inTransaction, type Pool } from './db.js';

export interface Violation {
  invariant: 1 | 2 | 3 | 4;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  accounts: number;
  transfers: number;
  currencies: Array<{ currency: string; debits_posted: string; credits_posted: string; debits_pending: string; credits_pending: string }>;
  violations: Violation[];
}

/** How many violations of each kind are listed before the report says "and more". */
const VIOLATIONS_LISTED_MAX = 50;

export async function verifyLedger(pool: Pool): Promise<VerifyReport> {
  const violations: Violation[] = [];
  // One snapshot for every check: a verifier racing live traffic must not see half a batch.
  return inTransaction(
    pool,
    async (client) => {
      const counts = await client.query<{ accounts: string; transfers: string }>(
        'SELECT (SELECT count(*) FROM ledger.accounts) AS accounts, (SELECT count(*) FROM ledger.transfers) AS transfers',
      );

      // 1. Per currency, debits equal credits, posted and pending.
      const currencies = await client.query<VerifyReport['currencies'][number]>(
        `SELECT currency,
              sum(debits_posted)::text AS debits_posted, sum(credits_posted)::text AS credits_posted,
              sum(debits_pending)::text AS debits_pending, sum(credits_pending)::text AS credits_pending
         FROM ledger.account_balances GROUP BY currency ORDER BY currency`,
      );
      for (const c of currencies.rows) {
        if (c.debits_posted !== c.credits_posted) {
          violations.push({
            invariant: 1,
            detail: `${c.currency}: debits_posted ${c.debits_posted} != credits_posted ${c.credits_posted}`,
          });
        }
        if (c.debits_pending !== c.credits_pending) {
          violations.push({
            invariant: 1,
            detail: `${c.currency}: debits_pending ${c.debits_pending} != credits_pending ${c.credits_pending}`,
          });
        }
      }

      // 2. Every account's counters equal the sums over its transfers. A pending transfer counts
      // as pending until a post or void resolves it; a post counts as posted.
      const counters = await client.query<{ id: string; field: string; stored: string; derived: string }>(
        `WITH resolved AS (
         SELECT pending_id FROM ledger.transfers WHERE pending_id IS NOT NULL
       ), effects AS (
         SELECT t.debit_account_id AS account_id,
                CASE WHEN t.flags & 2 <> 0 AND r.pending_id IS NULL THEN t.amount ELSE 0 END AS debits_pending,
                CASE WHEN t.flags & 2 = 0 AND t.flags & 8 = 0 THEN t.amount ELSE 0 END AS debits_posted,
                0::bigint AS credits_pending, 0::bigint AS credits_posted
           FROM ledger.transfers t LEFT JOIN resolved r ON r.pending_id = t.id
         UNION ALL
         SELECT t.credit_account_id,
                0, 0,
                CASE WHEN t.flags & 2 <> 0 AND r.pending_id IS NULL THEN t.amount ELSE 0 END,
                CASE WHEN t.flags & 2 = 0 AND t.flags & 8 = 0 THEN t.amount ELSE 0 END
           FROM ledger.transfers t LEFT JOIN resolved r ON r.pending_id = t.id
       ), sums AS (
         SELECT account_id, sum(debits_pending) AS dp, sum(debits_posted) AS dpo,
                sum(credits_pending) AS cp, sum(credits_posted) AS cpo
           FROM effects GROUP BY account_id
       )
       SELECT a.id, f.field, f.stored::text, f.derived::text
         FROM ledger.account_balances a
         LEFT JOIN sums s ON s.account_id = a.id
         CROSS JOIN LATERAL (VALUES
           ('debits_pending', a.debits_pending, coalesce(s.dp, 0)),
           ('debits_posted', a.debits_posted, coalesce(s.dpo, 0)),
           ('credits_pending', a.credits_pending, coalesce(s.cp, 0)),
           ('credits_posted', a.credits_posted, coalesce(s.cpo, 0))
         ) AS f(field, stored, derived)
        WHERE f.stored <> f.derived
        LIMIT $1`,
        [VIOLATIONS_LISTED_MAX],
      );
      for (const r of counters.rows) {
        violations.push({ invariant: 2, detail: `account ${r.id}: ${r.field} is ${r.stored}, its transfers sum to ${r.derived}` });
      }

      // 2 (cont.). Every transfer's accounts exist and share its currency: the engine guarantees it
      // under its locks, with no foreign key to re-check it on every insert.
      const orphans = await client.query<{ id: string; problem: string }>(
        `SELECT t.id,
                CASE WHEN d.id IS NULL OR c.id IS NULL THEN 'references a missing account'
                     ELSE 'has a currency other than its accounts' END AS problem
           FROM ledger.transfers t
           LEFT JOIN ledger.accounts d ON d.id = t.debit_account_id
           LEFT JOIN ledger.accounts c ON c.id = t.credit_account_id
          WHERE d.id IS NULL OR c.id IS NULL OR d.currency <> t.currency OR c.currency <> t.currency
          LIMIT $1`,
        [VIOLATIONS_LISTED_MAX],
      );
      for (const r of orphans.rows) violations.push({ invariant: 2, detail: `transfer ${r.id} ${r.problem}` });

      // 3. No account violates its flags.
      const flags = await client.query<{ id: string; rule: string }>(
        `SELECT id, CASE WHEN flags & 1 <> 0 AND debits_pending + debits_posted > credits_posted
                       THEN 'debits_must_not_exceed_credits' ELSE 'credits_must_not_exceed_debits' END AS rule
         FROM ledger.account_balances
        WHERE (flags & 1 <> 0 AND debits_pending + debits_posted > credits_posted)
           OR (flags & 2 <> 0 AND credits_pending + credits_posted > debits_posted)
        LIMIT $1`,
        [VIOLATIONS_LISTED_MAX],
      );
      for (const r of flags.rows) violations.push({ invariant: 3, detail: `account ${r.id} breaks ${r.rule}` });

      // 4. Every pending transfer is resolved at most once, for at most its amount, by a transfer
      // on the same accounts; and only pending transfers are resolved.
      const resolutions = await client.query<{ pending_id: string; problem: string }>(
        `SELECT r.pending_id,
              CASE WHEN p.id IS NULL THEN 'resolves a transfer that does not exist'
                   WHEN p.flags & 2 = 0 THEN 'resolves a transfer that is not pending'
                   WHEN count(*) OVER (PARTITION BY r.pending_id) > 1 THEN 'resolved more than once'
                   WHEN r.amount > p.amount THEN 'resolved for more than its amount'
                   ELSE 'resolved on other accounts' END AS problem
         FROM ledger.transfers r LEFT JOIN ledger.transfers p ON p.id = r.pending_id
        WHERE r.pending_id IS NOT NULL
          AND (p.id IS NULL OR p.flags & 2 = 0 OR r.amount > p.amount
               OR r.debit_account_id <> p.debit_account_id OR r.credit_account_id <> p.credit_account_id
               OR (SELECT count(*) FROM ledger.transfers x WHERE x.pending_id = r.pending_id) > 1)
        LIMIT $1`,
        [VIOLATIONS_LISTED_MAX],
      );
      for (const r of resolutions.rows) violations.push({ invariant: 4, detail: `pending ${r.pending_id}: ${r.problem}` });

      return {
        ok: violations.length === 0,
        accounts: Number(counts.rows[0]!.accounts),
        transfers: Number(counts.rows[0]!.transfers),
        currencies: currencies.rows,
        violations,
      };
    },
    { begin: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', commit: 'COMMIT' },
  );
}

export function formatVerifyReport(report: VerifyReport): string {
  const lines = [`ledger: ${report.accounts} accounts, ${report.transfers} transfers`];
  for (const c of report.currencies) {
    lines.push(
      `  ${c.currency}: posted debits ${c.debits_posted} / credits ${c.credits_posted}; pending debits ${c.debits_pending} / credits ${c.credits_pending}`,
    );
  }
  if (report.ok) {
    lines.push('invariants 1-4: OK');
  } else {
    lines.push(`invariants violated: ${report.violations.length}${report.violations.length >= VIOLATIONS_LISTED_MAX ? '+' : ''}`);
    for (const v of report.violations) lines.push(`  [${v.invariant}] ${v.detail}`);
  }
  return lines.join('\n');
}
