// cardplatform.cards.v1.CardService: issue cards on a company's credit line, freeze them, set
// their rules. A card of another company is NOT_FOUND.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { CardService } from '../../gen/cardplatform/cards/v1/cards_pb.js';
import { cardIssueSchema, type Card, type CardStore } from '../../cards/cards.js';
import { cardIdSchema } from '../../domain/card.js';
import { describeIssue } from '../../domain/validation.js';
import { creditLineAccountId } from '../../ledger/ids.js';
import type { Ledger } from '../../ledger/ledger.js';
import { scopeOf } from './auth.js';
import { cardToProto, optionalMinor } from './convert.js';
import { invalidArgument, notFound } from './errors.js';

export function createCardService(deps: { cards: CardStore; ledger: Ledger }): ServiceImpl<typeof CardService> {
  const { cards, ledger } = deps;
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
      return { card: cardToProto(await cards.issue({ ...parsed.data, account_id })) };
    },
    async getCard(req, ctx) {
      return { card: cardToProto(await visibleCard(ctx, req.cardId)) };
    },
    async freezeCard(req, ctx) {
      const card = await visibleCard(ctx, req.cardId);
      return { card: cardToProto((await cards.setStatus(card.card_id, 'frozen'))!) };
    },
    async unfreezeCard(req, ctx) {
      const card = await visibleCard(ctx, req.cardId);
      return { card: cardToProto((await cards.setStatus(card.card_id, 'active'))!) };
    },
    async setCardRules(req, ctx) {
      const rules = rulesOf(req.transactionLimitMinor, req.blockedMccs);
      const card = await visibleCard(ctx, req.cardId);
      return { card: cardToProto((await cards.setRules(card.card_id, rules))!) };
    },
  };
}
