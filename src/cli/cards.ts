// `cards ...`: cardplatform.cards.v1.CardService.
import { Command } from 'commander';
import {
  FreezeCardResponseSchema,
  GetCardResponseSchema,
  IssueCardResponseSchema,
  SetCardRulesResponseSchema,
  SetCompanySpendLimitsResponseSchema,
  SetSpendLimitsResponseSchema,
  UnfreezeCardResponseSchema,
} from '../gen/cardplatform/cards/v1/cards_pb.js';
import { spendLimitToProto } from '../api/rpc/convert.js';
import type { SpendLimit } from '../domain/spend-limits.js';
import { currency, mccList, minorUnits, spendLimitList } from './args.js';
import { apiContext } from './context.js';
import { renderCard, renderLimitUsage } from './render.js';

const LIMIT_HELP =
  'a spend limit <window>:<measure>:<limit>[:<mcc>,...]: window day|week|month|all_time (UTC), measure amount (minor units) ' +
  'or count (authorizations), optionally only at these merchant categories; e.g. day:amount:50000 (repeat for more; none: no limits)';

interface RuleOptions {
  limitMinor?: bigint;
  blockMcc?: string[];
}

function withRules(cmd: Command): Command {
  return cmd
    .option('--limit-minor <n>', 'largest single authorization, in minor units (integer); default: no limit', minorUnits)
    .option('--block-mcc <mcc>', 'a merchant category the card may not be used at (repeat, or comma-separate)', mccList);
}

const rules = (o: RuleOptions) => ({
  ...(o.limitMinor !== undefined ? { transactionLimitMinor: o.limitMinor } : {}),
  blockedMccs: o.blockMcc ?? [],
});

export function cardsCommand(): Command {
  const cards = new Command('cards').description("a company's cards (CardService)");

  withRules(
    cards
      .command('issue')
      .description("issue a card on a company's credit line (repeating it with the same card id is harmless)")
      .argument('<card-id>', 'the card')
      .requiredOption('--company <company-id>', 'the company (it needs a credit line in the currency)')
      .option('--currency <code>', 'ISO 4217 currency', currency, 'USD'),
  ).action(async (card_id: string, o: RuleOptions & { company: string; currency: string }, cmd: Command) => {
    const { clients, out } = await apiContext(cmd);
    const res = await clients.cards.issueCard({ cardId: card_id, companyId: o.company, currency: o.currency, ...rules(o) });
    out.message(IssueCardResponseSchema, res, () => renderCard(res.card));
  });

  cards
    .command('get')
    .description("a card: status, limit, blocked merchant categories, spend limits (its own and its company's) and their usage")
    .argument('<card-id>', 'the card')
    .action(async (card_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.cards.getCard({ cardId: card_id });
      out.message(GetCardResponseSchema, res, () => renderCard(res.card));
    });

  cards
    .command('freeze')
    .description('freeze a card: it declines every authorization (card_frozen)')
    .argument('<card-id>', 'the card')
    .action(async (card_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.cards.freezeCard({ cardId: card_id });
      out.message(FreezeCardResponseSchema, res, () => renderCard(res.card));
    });

  cards
    .command('unfreeze')
    .description('make a frozen card active again')
    .argument('<card-id>', 'the card')
    .action(async (card_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.cards.unfreezeCard({ cardId: card_id });
      out.message(UnfreezeCardResponseSchema, res, () => renderCard(res.card));
    });

  withRules(
    cards
      .command('rules')
      .description("replace a card's per-transaction limit and blocked merchant categories (what is not given is cleared)")
      .argument('<card-id>', 'the card'),
  ).action(async (card_id: string, o: RuleOptions, cmd: Command) => {
    const { clients, out } = await apiContext(cmd);
    const res = await clients.cards.setCardRules({ cardId: card_id, ...rules(o) });
    out.message(SetCardRulesResponseSchema, res, () => renderCard(res.card));
  });

  cards
    .command('set-spend-limits')
    .description("replace a card's spend limits (what is not given is removed); they apply from the next authorization")
    .argument('<card-id>', 'the card')
    .option('--limit <spec>', LIMIT_HELP, spendLimitList)
    .action(async (card_id: string, o: { limit?: SpendLimit[] }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.cards.setSpendLimits({ cardId: card_id, limits: (o.limit ?? []).map(spendLimitToProto) });
      out.message(SetSpendLimitsResponseSchema, res, () => renderCard(res.card));
    });

  cards
    .command('set-company-spend-limits')
    .description("replace a company's spend limits in a currency: they count every card of the company in it")
    .requiredOption('--company <company-id>', 'the company')
    .option('--currency <code>', 'ISO 4217 currency', currency, 'USD')
    .option('--limit <spec>', LIMIT_HELP, spendLimitList)
    .action(async (o: { company: string; currency: string; limit?: SpendLimit[] }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.cards.setCompanySpendLimits({
        companyId: o.company,
        currency: o.currency,
        limits: (o.limit ?? []).map(spendLimitToProto),
      });
      out.message(SetCompanySpendLimitsResponseSchema, res, () => renderLimitUsage(res.limits));
    });

  return cards;
}
