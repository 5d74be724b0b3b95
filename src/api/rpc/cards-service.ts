// cardplatform.cards.v1.CardService: issue cards on a company's credit line, freeze them, set
// their rules. A card of another company is NOT_FOUND.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { CardService } from '../../gen/cardplatform/cards/v1/cards_pb.js';
import { cardIssueSchema, type Card, type CardStore } from '../../cards/cards.js';
import { cardIdSchema } from '../../domain/card.js';
import { currencySchema } from '../../domain/money.js';
import { paymentIdSchema } from '../../domain/payment.js';
import { describeIssue } from '../../domain/validation.js';
import { spendLimitsSchema } from '../../domain/spend-limits.js';
import { cardLimitUsage, limitUsage, scopeLimits } from '../../ledger/spend-limits.js';
import { creditLineAccountId } from '../../ledger/ids.js';
import type { Ledger } from '../../ledger/ledger.js';
import { scopeOf } from './auth.js';
import { cardToProto, limitUsageToProto, optionalMinor, spendLimitsFromProto } from './convert.js';
import { invalidArgument, notFound } from './errors.js';

export function createCardService(deps: {
  cards: CardStore;
  ledger: Ledger;
  /** Which spend-limit windows are current (epoch ms); default Date.now. */
  clock?: () => number;
}): ServiceImpl<typeof CardService> {
  const { cards, ledger, clock = Date.now } = deps;
  /** A card as the API shows it: with its limits and what their current windows used. */
  const view = async (card: Card) => cardToProto(card, await cardLimitUsage(ledger, card, clock()));
  /** Limits from the wire, validated before anything is written. */
  const limitsOf = (wire: Parameters<typeof spendLimitsFromProto>[0]) => {
    const parsed = spendLimitsSchema.safeParse(spendLimitsFromProto(wire));
    if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, 'limits.'));
    return parsed.data;
  };
  const visibleCard = async (ctx: HandlerContext, card_id: string): Promise<Card> => {
    const parsed = cardIdSchema.safeParse(card_id);
    if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, 'card_id'));
    const card = await cards.get(parsed.data);
    if (!card || !scopeOf(ctx.values).company_ids.has(card.company_id)) throw notFound('card');
    return card;
  };
  const rulesOf = (limit: bigint | undefined, blocked_mccs: string[]) => {
    const parsed = cardIssueSchema.pick({ transaction_limit_minor: true, blocked_mccs: true }).safeParse({
      transaction_limit_minor: optionalMinor(limit) ?? null,
      blocked_mccs,
    });
    if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
    return parsed.data;
  };

  return {
    async issueCard(req, ctx) {
      const rules = rulesOf(req.transactionLimitMinor, req.blockedMccs);
      const input = {
        card_id: req.cardId,
        company_id: req.companyId,
        currency: req.currency,
        account_id: '00000000-0000-4000-8000-000000000000',
        ...rules,
      };
      const parsed = cardIssueSchema.safeParse(input);
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
      if (!scopeOf(ctx.values).company_ids.has(parsed.data.company_id)) throw notFound('company');
      const account_id = creditLineAccountId(parsed.data.company_id, parsed.data.currency);
      if ((await ledger.getCreditLineOwner(account_id)) !== parsed.data.company_id) {
        throw new ConnectError(
          `company ${parsed.data.company_id} has no ${parsed.data.currency} credit line: create one first`,
          Code.FailedPrecondition,
        );
      }
      const existing = await cards.get(parsed.data.card_id);
      if (existing && !scopeOf(ctx.values).company_ids.has(existing.company_id)) {
        throw new ConnectError(`card_id: ${parsed.data.card_id} is taken`, Code.AlreadyExists);
      }
      return { card: await view(await cards.issue({ ...parsed.data, account_id })) };
    },
    async getCard(req, ctx) {
      return { card: await view(await visibleCard(ctx, req.cardId)) };
    },
    async freezeCard(req, ctx) {
      const card = await visibleCard(ctx, req.cardId);
      return { card: await view((await cards.setStatus(card.card_id, 'frozen'))!) };
    },
    async unfreezeCard(req, ctx) {
      const card = await visibleCard(ctx, req.cardId);
      return { card: await view((await cards.setStatus(card.card_id, 'active'))!) };
    },
    async setCardRules(req, ctx) {
      const rules = rulesOf(req.transactionLimitMinor, req.blockedMccs);
      const card = await visibleCard(ctx, req.cardId);
      return { card: await view((await cards.setRules(card.card_id, rules))!) };
    },
    async setSpendLimits(req, ctx) {
      const limits = limitsOf(req.limits);
      const card = await visibleCard(ctx, req.cardId);
      return { card: await view((await cards.setSpendLimits(card.card_id, limits))!) };
    },
    async setCompanySpendLimits(req, ctx) {
      const company = paymentIdSchema.safeParse(req.companyId);
      if (!company.success) throw invalidArgument(describeIssue(company.error, 'company_id'));
      const currency = currencySchema.safeParse(req.currency);
      if (!currency.success) throw invalidArgument(describeIssue(currency.error, 'currency'));
      const limits = limitsOf(req.limits);
      if (!scopeOf(ctx.values).company_ids.has(company.data)) throw notFound('company');
      const stored = await cards.setCompanySpendLimits(company.data, currency.data, limits);
      const usage = await limitUsage(ledger, scopeLimits('company', company.data, currency.data, stored, clock()));
      return { companyId: company.data, currency: currency.data, limits: usage.map(limitUsageToProto) };
    },
  };
}
