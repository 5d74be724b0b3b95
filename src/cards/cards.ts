// Card records: what an authorization decision reads before it asks the ledger for a hold.
import { z } from 'zod';
import { cardIdSchema, mccSchema } from '../domain/card.js';
import { amountMinorSchema, currencySchema, type Currency } from '../domain/money.js';
import { paymentIdSchema } from '../domain/payment.js';
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
}

function fromRow(row: CardRow): Card {
  return { ...row, transaction_limit_minor: row.transaction_limit_minor === null ? null : Number(row.transaction_limit_minor) };
}

const COLUMNS = 'card_id, company_id, currency, account_id, status, transaction_limit_minor, blocked_mccs';

export interface CardStore {
  /** Issues a card, or returns the existing one when card_id was issued with the same company,
   * currency and account (so a retried issue is harmless). */
  issue(input: CardIssue): Promise<Card>;
  get(card_id: string): Promise<Card | null>;
  setStatus(card_id: string, status: CardStatus): Promise<Card | null>;
  setRules(card_id: string, rules: { transaction_limit_minor: number | null; blocked_mccs: string[] }): Promise<Card | null>;
  /** Dunning: freezes the company's active cards in a currency and marks them frozen by billing;
   * returns how many it froze (0 when repeated). */
  freezeForBilling(company_id: string, currency: Currency): Promise<number>;
  /** Unfreezes only the cards billing froze (a card people froze stays frozen); returns how many. */
  unfreezeForBilling(company_id: string, currency: Currency): Promise<number>;
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
  };
}
