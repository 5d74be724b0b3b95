// cardplatform.ledger.v1.LedgerService: a company's credit line, account balances, transfers.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { z } from 'zod';
import { LedgerService } from '../../gen/cardplatform/ledger/v1/ledger_pb.js';
import { amountMinorSchema, currencySchema } from '../../domain/money.js';
import { paymentIdSchema } from '../../domain/payment.js';
import { describeIssue } from '../../domain/validation.js';
import { openCreditLine } from '../../ledger/accounts.js';
import type { Balance, Ledger } from '../../ledger/ledger.js';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { getPayment } from '../payments.js';
import { scopeOf } from './auth.js';
import { accountToProto, given, minor, transferToProto } from './convert.js';
import { invalidArgument, notFound } from './errors.js';

export const TRANSFER_PAGE_SIZE_DEFAULT = 100;
/** Largest page a caller may ask for (the ledger's own ceiling is higher). */
export const TRANSFER_PAGE_SIZE_API_MAX = 500;

const creditLineSchema = z.strictObject({
  company_id: paymentIdSchema,
  currency: currencySchema,
  limit_minor: amountMinorSchema,
  grant_key: paymentIdSchema,
});

const listSchema = z.strictObject({
  payment_id: paymentIdSchema.optional(),
  account_id: z.uuid({ error: 'must be a UUID' }).optional(),
  page_size: z
    .number()
    .int()
    .min(0)
    .max(TRANSFER_PAGE_SIZE_API_MAX, { error: `must be at most ${TRANSFER_PAGE_SIZE_API_MAX}` }),
  page_token: z.string().max(512, { error: 'must be at most 512 characters' }).optional(),
});

/** openCreditLine throws `credit line grant for <account>: <ledger result>` when the ledger refuses
 * the grant. A grant_key already used with another limit (or a grant the ledger refused before) is
 * the caller's doing, so it is answered as such, not as an internal error. */
function grantRefusal(err: unknown): ConnectError | null {
  const result = err instanceof Error ? /^credit line grant for [0-9a-f-]+: ([a-z_]+)$/.exec(err.message)?.[1] : undefined;
  if (!result) return null;
  if (result.startsWith('exists_with_different_')) {
    return new ConnectError(`grant_key: already used for another grant (${result})`, Code.AlreadyExists);
  }
  if (result === 'id_already_failed' || result === 'overflows' || result === 'account_closed') {
    return new ConnectError(`grant_key: a grant with this key was refused by the ledger (${result})`, Code.FailedPrecondition);
  }
  return null;
}

/** A credit line as the API shows it: balances, owner, and whether it was closed. */
const creditLineToProto = (balance: Balance, company_id: string) => ({ ...accountToProto(balance, company_id), closed: balance.closed });

export function createLedgerService(deps: { ledger: Ledger; client: Client }): ServiceImpl<typeof LedgerService> {
  const { ledger, client } = deps;
  const visibleAccount = async (ctx: HandlerContext, account_id: string) => {
    const company_id = await ledger.getCreditLineOwner(account_id);
    const balance = company_id && scopeOf(ctx.values).company_ids.has(company_id) ? await ledger.getBalance(account_id) : null;
    if (!company_id || !balance) throw notFound('account');
    return { company_id, balance };
  };

  return {
    async createCreditLine(req, ctx) {
      const parsed = creditLineSchema.safeParse({
        company_id: req.companyId,
        currency: req.currency,
        limit_minor: minor(req.limitMinor),
        grant_key: req.grantKey,
      });
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
      if (!scopeOf(ctx.values).company_ids.has(parsed.data.company_id)) throw notFound('company');
      let account_id: string;
      try {
        account_id = await openCreditLine(ledger, parsed.data);
      } catch (err) {
        throw grantRefusal(err) ?? err;
      }
      const { company_id, balance } = await visibleAccount(ctx, account_id);
      return { account: creditLineToProto(balance, company_id) };
    },

    async closeCreditLine(req, ctx) {
      const parsed = z.uuid({ error: 'must be a UUID' }).safeParse(req.accountId);
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, 'account_id'));
      await visibleAccount(ctx, parsed.data);
      const result = await ledger.closeAccount(parsed.data);
      // visibleAccount found a credit line of the caller's company: it exists and has a limit flag.
      if (result !== 'closed' && result !== 'already_closed') throw new Error(`closeAccount ${parsed.data}: ${result}`);
      const { company_id, balance } = await visibleAccount(ctx, parsed.data);
      return { account: creditLineToProto(balance, company_id) };
    },

    async getAccount(req, ctx) {
      const parsed = z.uuid({ error: 'must be a UUID' }).safeParse(req.accountId);
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, 'account_id'));
      const { company_id, balance } = await visibleAccount(ctx, parsed.data);
      return { account: creditLineToProto(balance, company_id) };
    },

    async listTransfers(req, ctx) {
      const parsed = listSchema.safeParse({
        payment_id: req.of.case === 'paymentId' ? req.of.value : undefined,
        account_id: req.of.case === 'accountId' ? req.of.value : undefined,
        page_size: req.pageSize,
        page_token: given(req.pageToken),
      });
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
      const { payment_id, account_id, page_size, page_token } = parsed.data;
      let filter: { payment_id: string } | { account_id: string };
      if (payment_id !== undefined) {
        let company_id: string | undefined;
        try {
          company_id = (await getPayment(client, payment_id)).company_id;
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
        if (!company_id || !scopeOf(ctx.values).company_ids.has(company_id)) throw notFound('payment');
        filter = { payment_id };
      } else if (account_id !== undefined) {
        await visibleAccount(ctx, account_id);
        filter = { account_id };
      } else {
        throw invalidArgument('of: one of payment_id or account_id is required');
      }
      const page = await ledger.listTransfers(filter, { limit: page_size || TRANSFER_PAGE_SIZE_DEFAULT, after: page_token });
      return { transfers: page.transfers.map(transferToProto), nextPageToken: page.next ?? '' };
    },
  };
}
