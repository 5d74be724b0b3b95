// Card records: what an authorization decision reads before it asks the ledger for a hold.
import { z } from 'zod';
import { cardIdSchema, mccSchema } from '../domain/card.js';
import { amountMinorSchema, currencySchema, type Currency } from '../domain/money.js';
import { paymentIdSchema } from '../domain/payment.js';
import { spendLimitsSchema, type SpendLimit, type SpendLimitInput } from '../domain/spend-limits.js';
import { describeIssue } from '../domain/validation.js';
import type { Pool } from '../ledger/db.js';

export const BLOCKED_MCCS_MAX = 100;

export const CARD_STATUSES = ['active', 'frozen'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

export const cardIssueSchema = z.strictObject({
  card_id: cardIdSchema,
  company_id: paymentIdSchema,
  currency: currencySchema,
  /** The company's credit-line account in the ledger (see openCreditLine). */
  account_id: z.uuid({ error: 'must be a UUID' }),
  transaction_limit_minor: amountMinorSchema.nullable().default(null),
  blocked_mccs: z.array(mccSchema).max(BLOCKED_MCCS_MAX).default([]),
});
export type CardIssue = z.input<typeof cardIssueSchema>;

export interface Card {
  card_id: string;
  company_id: string;
  currency: Currency;
  account_id: string;
  status: CardStatus;
  transaction_limit_minor: number | null;
  blocked_mccs: string[];
  /** The card's own spend limits. */
  spend_limits: SpendLimit[];
  /** The limits of its company in its currency (they count every such card of the company). */
  company_spend_limits: SpendLimit[];
}

export class CardInputError extends Error {
  override name = 'CardInputError';
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new CardInputError(describeIssue(parsed.error, 'card.'));
  return parsed.data;
}

interface CardRow {
  card_id: string;
  company_id: string;
  currency: Currency;
  account_id: string;
  status: CardStatus;
  transaction_limit_minor: string | null;
  blocked_mccs: string[];
  spend_limits: unknown;
  company_spend_limits: unknown;
}

/** Limits as stored: written only through spendLimitsSchema, so a row that fails it is corrupt. */
function storedLimits(value: unknown, what: string): SpendLimit[] {
  const parsed = spendLimitsSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${what}: stored spend limits are invalid (${describeIssue(parsed.error)})`);
  return parsed.data;
}

function fromRow(row: CardRow): Card {
  return {
    ...row,
    transaction_limit_minor: row.transaction_limit_minor === null ? null : Number(row.transaction_limit_minor),
    spend_limits: storedLimits(row.spend_limits, `card ${row.card_id}`),
    company_spend_limits: storedLimits(row.company_spend_limits, `company ${row.company_id} ${row.currency}`),
  };
}

// The company's limits come with the card in the same statement: an authorization reads its card
// once, whatever limits apply.
const COLUMNS = `card_id, company_id, currency, account_id, status, transaction_limit_minor, blocked_mccs, spend_limits,
  coalesce((SELECT l.spend_limits FROM cards.company_spend_limits l
             WHERE l.company_id = cards.company_id AND l.currency = cards.currency), '[]'::jsonb) AS company_spend_limits`;

export interface CardStore {
  /** Issues a card, or returns the existing one when card_id was issued with the same company,
   * currency and account (so a retried issue is harmless). */
  issue(input: CardIssue): Promise<Card>;
  get(card_id: string): Promise<Card | null>;
  setStatus(card_id: string, status: CardStatus): Promise<Card | null>;
  setRules(card_id: string, rules: { transaction_limit_minor: number | null; blocked_mccs: string[] }): Promise<Card | null>;
  /** Replaces the card's spend limits (validated: CardInputError names the field). */
  setSpendLimits(card_id: string, limits: SpendLimitInput[]): Promise<Card | null>;
  /** Replaces a company's spend limits in a currency (validated likewise). */
  setCompanySpendLimits(company_id: string, currency: Currency, limits: SpendLimitInput[]): Promise<SpendLimit[]>;
  getCompanySpendLimits(company_id: string, currency: Currency): Promise<SpendLimit[]>;
  /** Dunning: freezes the company's active cards in a currency and marks them frozen by billing;
   * returns how many it froze (0 when repeated). */
  freezeForBilling(company_id: string, currency: Currency): Promise<number>;
  /** Unfreezes only the cards billing froze (a card people froze stays frozen); returns how many. */
  unfreezeForBilling(company_id: string, currency: Currency): Promise<number>;
}

function parseLimits(limits: unknown): SpendLimit[] {
  const parsed = spendLimitsSchema.safeParse(limits);
  if (!parsed.success) throw new CardInputError(describeIssue(parsed.error, 'spend_limits.'));
  return parsed.data;
}

export function createCardStore(pool: Pool): CardStore {
  return {
    async freezeForBilling(company_id, currency) {
      const { rowCount } = await pool.query(
        `UPDATE cards.cards SET status = 'frozen', frozen_by_billing = true, updated_at = now()
          WHERE company_id = $1 AND currency = $2 AND status = 'active'`,
        [company_id, currency],
      );
      return rowCount ?? 0;
    },
    async unfreezeForBilling(company_id, currency) {
      const { rowCount } = await pool.query(
        `UPDATE cards.cards SET status = 'active', frozen_by_billing = false, updated_at = now()
          WHERE company_id = $1 AND currency = $2 AND frozen_by_billing`,
        [company_id, currency],
      );
      return rowCount ?? 0;
    },
    async issue(input) {
      const card = parse(cardIssueSchema, input);
      const { rows } = await pool.query<CardRow>(
        `INSERT INTO cards.cards (card_id, company_id, currency, account_id, status, transaction_limit_minor, blocked_mccs)
         VALUES ($1, $2, $3, $4, 'active', $5, $6)
         ON CONFLICT (card_id) DO NOTHING
         RETURNING ${COLUMNS}`,
        [card.card_id, card.company_id, card.currency, card.account_id, card.transaction_limit_minor, card.blocked_mccs],
      );
      if (rows[0]) return fromRow(rows[0]);
      const existing = await this.get(card.card_id);
      if (!existing) throw new Error(`card ${card.card_id}: neither inserted nor found`);
      if (existing.company_id !== card.company_id || existing.currency !== card.currency || existing.account_id !== card.account_id) {
        throw new CardInputError(`card.card_id: ${card.card_id} was already issued to another company, currency or account`);
      }
      return existing;
    },
    async get(card_id) {
      if (!cardIdSchema.safeParse(card_id).success) return null;
      const { rows } = await pool.query<CardRow>(`SELECT ${COLUMNS} FROM cards.cards WHERE card_id = $1`, [card_id]);
      return rows[0] ? fromRow(rows[0]) : null;
    },
    async setStatus(card_id, status) {
      parse(z.enum(CARD_STATUSES), status);
      const { rows } = await pool.query<CardRow>(
        `UPDATE cards.cards SET status = $2, frozen_by_billing = false, updated_at = now() WHERE card_id = $1 RETURNING ${COLUMNS}`,
        [card_id, status],
      );
      return rows[0] ? fromRow(rows[0]) : null;
    },
    async setRules(card_id, rules) {
      const parsed = parse(cardIssueSchema.pick({ transaction_limit_minor: true, blocked_mccs: true }), rules);
      const { rows } = await pool.query<CardRow>(
        `UPDATE cards.cards SET transaction_limit_minor = $2, blocked_mccs = $3, updated_at = now() WHERE card_id = $1 RETURNING ${COLUMNS}`,
        [card_id, parsed.transaction_limit_minor, parsed.blocked_mccs],
      );
      return rows[0] ? fromRow(rows[0]) : null;
    },
    async setSpendLimits(card_id, limits) {
      const parsed = parseLimits(limits);
      const { rows } = await pool.query<CardRow>(
        `UPDATE cards.cards SET spend_limits = $2, updated_at = now() WHERE card_id = $1 RETURNING ${COLUMNS}`,
        [card_id, JSON.stringify(parsed)],
      );
      return rows[0] ? fromRow(rows[0]) : null;
    },
    async setCompanySpendLimits(company_id, currency, limits) {
      const company = paymentIdSchema.safeParse(company_id);
      if (!company.success) throw new CardInputError(describeIssue(company.error, 'company_id'));
      const unit = currencySchema.safeParse(currency);
      if (!unit.success) throw new CardInputError(describeIssue(unit.error, 'currency'));
      const parsed = parseLimits(limits);
      await pool.query(
        `INSERT INTO cards.company_spend_limits (company_id, currency, spend_limits) VALUES ($1, $2, $3)
         ON CONFLICT (company_id, currency) DO UPDATE SET spend_limits = excluded.spend_limits, updated_at = now()`,
        [company.data, unit.data, JSON.stringify(parsed)],
      );
      return parsed;
    },
    async getCompanySpendLimits(company_id, currency) {
      const { rows } = await pool.query<{ spend_limits: unknown }>(
        'SELECT spend_limits FROM cards.company_spend_limits WHERE company_id = $1 AND currency = $2',
        [company_id, currency],
      );
      return rows[0] ? storedLimits(rows[0].spend_limits, `company ${company_id} ${currency}`) : [];
    },
  };
}
