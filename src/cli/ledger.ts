// `ledger ...`: cardplatform.ledger.v1.LedgerService.
import { Command } from 'commander';
import {
  CloseCreditLineResponseSchema,
  CreateCreditLineResponseSchema,
  GetAccountResponseSchema,
  ListTransfersResponseSchema,
} from '../gen/cardplatform/ledger/v1/ledger_pb.js';
import { currency, integerIn, minorUnits } from './args.js';
import { apiContext } from './context.js';
import { usageError } from './errors.js';
import { renderAccount, renderTransfers } from './render.js';

export function ledgerCommand(): Command {
  const ledger = new Command('ledger').description('credit lines, balances and transfers (LedgerService)');

  ledger
    .command('credit-line')
    .description("open a company's credit line in a currency and grant it a limit (once per grant key)")
    .requiredOption('--company <company-id>', 'the company')
    .option('--currency <code>', 'ISO 4217 currency', currency, 'USD')
    .requiredOption('--limit-minor <n>', 'the credit granted, in minor units (integer)', minorUnits)
    .requiredOption('--grant-key <key>', 'idempotency key of this grant: the same key grants once')
    .action(async (o: { company: string; currency: string; limitMinor: bigint; grantKey: string }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.ledger.createCreditLine({
        companyId: o.company,
        currency: o.currency,
        limitMinor: o.limitMinor,
        grantKey: o.grantKey,
      });
      out.message(CreateCreditLineResponseSchema, res, () => renderAccount(res.account));
    });

  ledger
    .command('close-credit-line')
    .description("close a company's credit line: no new holds or charges; its open holds can still be released")
    .argument('<account-id>', 'the credit-line account (a UUID, as credit-line prints it)')
    .action(async (account_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.ledger.closeCreditLine({ accountId: account_id });
      out.message(CloseCreditLineResponseSchema, res, () => `${renderAccount(res.account)}\nclosed: ${res.account?.closed ? 'yes' : 'no'}`);
    });

  ledger
    .command('account')
    .description("a credit-line account's balances")
    .argument('<account-id>', 'the account (a UUID, as credit-line and cards print it)')
    .action(async (account_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.ledger.getAccount({ accountId: account_id });
      out.message(GetAccountResponseSchema, res, () => renderAccount(res.account));
    });

  ledger
    .command('transfers')
    .description('transfers of one payment or of one account, oldest first')
    .option('--payment <payment-id>', "the payment's transfers")
    .option('--account <account-id>', "the account's transfers")
    .option('--page-size <n>', 'transfers per page (at most 500)', integerIn(1, 500), 100)
    .option('--page-token <token>', 'the next page, as printed by the previous one')
    .action(async (o: { payment?: string; account?: string; pageSize: number; pageToken?: string }, cmd: Command) => {
      if ((o.payment === undefined) === (o.account === undefined))
        throw usageError('ledger transfers: give exactly one of --payment or --account');
      const { clients, out } = await apiContext(cmd);
      const res = await clients.ledger.listTransfers({
        of: o.payment !== undefined ? { case: 'paymentId', value: o.payment } : { case: 'accountId', value: o.account! },
        pageSize: o.pageSize,
        pageToken: o.pageToken ?? '',
      });
      out.message(ListTransfersResponseSchema, res, () => renderTransfers(res.transfers, res.nextPageToken));
    });

  return ledger;
}
