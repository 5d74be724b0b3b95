// `disputes ...`: cardplatform.disputes.v1.DisputeService.
import { Command, InvalidArgumentError } from 'commander';
import {
  GetDisputeResponseSchema,
  ListDisputesResponseSchema,
  OpenDisputeResponseSchema,
  RecordNetworkResponseResponseSchema,
  WithdrawDisputeResponseSchema,
  type Dispute,
  type DisputeSummary,
} from '../gen/cardplatform/disputes/v1/disputes_pb.js';
import { DISPUTE_REASONS, NETWORK_RESPONSES } from '../domain/dispute.js';
import { integerIn, minorUnits } from './args.js';
import { apiContext } from './context.js';
import { record, table } from './output.js';
import { withTimeline } from './render.js';

const oneOf = (values: readonly string[]) => (value: string) => {
  if (!values.includes(value)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}, got "${value}"`);
  return value;
};

export function renderDispute(d: Dispute | undefined): string {
  if (!d) return '(no dispute)';
  const head = record({
    dispute_id: d.disputeId,
    payment_id: d.paymentId,
    company_id: d.companyId,
    status: d.status,
    reason: d.reason,
    currency: d.currency,
    amount_minor: d.amountMinor,
    open_minor: d.openMinor,
    credited_minor: d.creditedMinor,
    won_minor: d.wonMinor,
    reversed_minor: d.reversedMinor,
    case_id: d.caseId,
    refusal: d.refusal,
    deadline_at: d.deadlineAt,
    needs_attention: d.needsAttention ? 'yes' : 'no',
  });
  return withTimeline(head, d.timeline);
}

function renderDisputeList(disputes: DisputeSummary[], next: string): string {
  const rows = disputes.map((d) => ({
    dispute_id: d.disputeId,
    payment_id: d.paymentId,
    status: d.status,
    amount_minor: d.amountMinor,
    currency: d.currency,
    attention: d.needsAttention ? 'yes' : '',
    opened_at: d.openedAt,
  }));
  const body = table(rows, ['dispute_id', 'payment_id', 'status', 'amount_minor', 'currency', 'attention', 'opened_at']);
  return next ? `${body}\n\nmore: --page-token ${next}` : body;
}

export function disputesCommand(): Command {
  const disputes = new Command('disputes').description('disputes (chargebacks) of cleared card payments (DisputeService)');

  disputes
    .command('open')
    .description(
      'dispute a cleared card payment: provisional credit now, chargeback filed with the network (the same --key is the same dispute)',
    )
    .argument('<payment-id>', 'the card payment')
    .requiredOption('--key <idempotency-key>', 'names this dispute: repeating the command with it is harmless')
    .requiredOption('--reason <reason>', `one of ${DISPUTE_REASONS.join(', ')}`, oneOf(DISPUTE_REASONS))
    .requiredOption('--amount-minor <n>', 'disputed amount in minor units, at most what is posted and not refunded or disputed', minorUnits)
    .requiredOption('--evidence <text>', 'why: what happened, document references')
    .action(async (payment_id: string, o: { key: string; reason: string; amountMinor: bigint; evidence: string }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.disputes.openDispute({
        paymentId: payment_id,
        idempotencyKey: o.key,
        reason: o.reason,
        amountMinor: o.amountMinor,
        evidence: o.evidence,
      });
      out.message(OpenDisputeResponseSchema, res, () => renderDispute(res.dispute));
    });

  disputes
    .command('get')
    .description('a dispute: stage, amounts, deadline, timeline')
    .argument('<dispute-id>', 'the dispute (<payment-id>:dispute:<key>)')
    .action(async (dispute_id: string, _o: object, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.disputes.getDispute({ disputeId: dispute_id });
      out.message(GetDisputeResponseSchema, res, () => renderDispute(res.dispute));
    });

  disputes
    .command('list')
    .description("disputes of the key's companies, newest first")
    .option('--status <status>', 'only this status, e.g. FILED')
    .option('--payment <payment-id>', 'only the disputes of this payment')
    .option('--page-size <n>', 'disputes per page (at most 500)', integerIn(1, 500), 50)
    .option('--page-token <token>', 'the next page, as printed by the previous one')
    .action(async (o: { status?: string; payment?: string; pageSize: number; pageToken?: string }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.disputes.listDisputes({
        status: o.status ?? '',
        paymentId: o.payment ?? '',
        pageSize: o.pageSize,
        pageToken: o.pageToken ?? '',
      });
      out.message(ListDisputesResponseSchema, res, () => renderDisputeList(res.disputes, res.nextPageToken));
    });

  disputes
    .command('withdraw')
    .description('withdraw a dispute waiting for the merchant or the network: chargeback withdrawn, credit taken back')
    .argument('<dispute-id>', 'the dispute')
    .requiredOption('--reason <text>', 'why')
    .action(async (dispute_id: string, o: { reason: string }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.disputes.withdrawDispute({ disputeId: dispute_id, reason: o.reason });
      out.message(WithdrawDisputeResponseSchema, res, () => renderDispute(res.dispute));
    });

  disputes
    .command('network-response')
    .description("the card network's message about a dispute (as the network, e.g. in the demo)")
    .argument('<dispute-id>', 'the dispute')
    .requiredOption('--response <response>', `one of ${NETWORK_RESPONSES.join(', ')}`, oneOf(NETWORK_RESPONSES))
    .option('--detail <text>', "the merchant's or network's words", '')
    .action(async (dispute_id: string, o: { response: string; detail: string }, cmd: Command) => {
      const { clients, out } = await apiContext(cmd);
      const res = await clients.disputes.recordNetworkResponse({ disputeId: dispute_id, response: o.response, detail: o.detail });
      out.message(RecordNetworkResponseResponseSchema, res, () => renderDispute(res.dispute));
    });

  return disputes;
}
