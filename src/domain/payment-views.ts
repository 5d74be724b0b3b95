// The Temporal Web UI's views of payments: a visibility query per view over the payment search
// attributes (src/domain/search-attributes.ts), and the columns that make the list read as payments.
// The Web UI (v2.42, the dev server's and ui-server's) keeps both in the browser, per user: a view is
// saved when its link carries `savedQuery=<name>` (the UI's "share view" link), columns are added
// with "Configure Columns". `npm run cli -- ui payments` prints the links; docs/operations.md lists
// the same queries and columns (test/unit/payment-views.test.ts checks both).
import { paymentIdSchema, TERMINAL_STATUSES } from './payment.js';
import {
  AmountMinorKey,
  CompanyIdKey,
  CurrencyKey,
  IMPLIED_CARD_STATUS,
  NeedsAttentionKey,
  PaymentKindKey,
  PaymentStatusKey,
} from './search-attributes.js';
import { describeIssue } from './validation.js';

export interface PaymentView {
  name: string;
  query: string;
}

const quoted = (values: Iterable<string>) => [...values].map((v) => `'${v}'`).join(', ');
const FINAL = quoted(TERMINAL_STATUSES);
const PAYMENTS = `${PaymentKindKey.name} IN ('card', 'payout')`;
/** Card payments whose status is the one their execution status implies (no PaymentStatus:
 * IMPLIED_CARD_STATUS), open or closed. */
const impliedCard = (execution_status: keyof typeof IMPLIED_CARD_STATUS) =>
  `(${PaymentKindKey.name} = 'card' AND ${PaymentStatusKey.name} IS NULL AND ExecutionStatus = '${execution_status}')`;

/** The views, all payments of every company. Card payments complete (ExecutionStatus Completed)
 * at their final state, but stay Running while they hold money, need attention, or linger (the
 * demo's): the PaymentStatus column, not Status, says whether a payment is finished; a card
 * payment without one is AUTHORIZED while Running and SETTLED once Completed (IMPLIED_CARD_STATUS). */
export const PAYMENT_VIEWS: readonly PaymentView[] = [
  { name: 'Payments', query: PAYMENTS },
  { name: 'Card payments', query: `${PaymentKindKey.name} = 'card'` },
  { name: 'Payouts', query: `${PaymentKindKey.name} = 'payout'` },
  { name: 'Payments in progress', query: `${PAYMENTS} AND (${PaymentStatusKey.name} NOT IN (${FINAL}) OR ${impliedCard('Running')})` },
  { name: 'Finished payments', query: `${PAYMENTS} AND (${PaymentStatusKey.name} IN (${FINAL}) OR ${impliedCard('Completed')})` },
  { name: 'Payments needing attention', query: `${PAYMENTS} AND ${NeedsAttentionKey.name} = true` },
];

/** The list's columns for payments, added once per browser ("Configure Columns"), in this order
 * after the UI's own Status and Workflow ID. AmountMinor is in minor units (1250 = 12.50 USD). */
export const PAYMENT_COLUMNS: readonly string[] = [
  PaymentStatusKey.name,
  PaymentKindKey.name,
  CompanyIdKey.name,
  AmountMinorKey.name,
  CurrencyKey.name,
  NeedsAttentionKey.name,
];

/** The views narrowed to one company; the company id is validated like everywhere else (it goes
 * into a query, so nothing but the id alphabet is let through). */
export function paymentViewsFor(company_id: string | undefined): PaymentView[] {
  if (company_id === undefined) return [...PAYMENT_VIEWS];
  const parsed = paymentIdSchema.safeParse(company_id);
  if (!parsed.success) throw new Error(describeIssue(parsed.error, 'company '));
  const company = parsed.data;
  return PAYMENT_VIEWS.map((v) => ({ name: `${v.name} of ${company}`, query: `${v.query} AND ${CompanyIdKey.name} = '${company}'` }));
}

/** The Web UI's workflows page showing a view; `save`: the link also saves it among the browser's
 * Saved Views (the UI adds it on every visit of such a link: once is enough). */
export function paymentViewUrl(ui_url: string, namespace: string, view: PaymentView, save: boolean): string {
  const url = new URL(`namespaces/${encodeURIComponent(namespace)}/workflows`, ui_url.endsWith('/') ? ui_url : `${ui_url}/`);
  if (!/^https?:$/.test(url.protocol)) throw new Error(`the Web UI address must be http(s), got ${ui_url}`);
  url.searchParams.set('query', view.query);
  if (save) url.searchParams.set('savedQuery', view.name);
  return url.toString();
}
