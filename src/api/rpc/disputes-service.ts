// cardplatform.disputes.v1.DisputeService: disputes of cleared card payments (src/api/disputes.ts).
// A company sees its own disputes only: another company's is NOT_FOUND, as if it did not exist.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { DisputeService } from '../../gen/cardplatform/disputes/v1/disputes_pb.js';
import { DISPUTE_STATUSES, isFinalDispute } from '../../domain/dispute-lifecycle.js';
import {
  DEFAULT_DISPUTE_OPTIONS,
  networkResponseSchema,
  withdrawDisputeSchema,
  type DisputeView,
  type DisputeWorkflowOptions,
} from '../../domain/dispute.js';
import { paymentIdSchema } from '../../domain/payment.js';
import { CompanyIdKey, DisputeStatusKey, DisputedPaymentIdKey } from '../../domain/search-attributes.js';
import { describeIssue } from '../../domain/validation.js';
import type { Ledger } from '../../ledger/ledger.js';
import { getDispute, listDisputes, openDispute, parseOpenDispute, recordNetworkResponse, withdrawDispute } from '../disputes.js';
import { getPayment } from '../payments.js';
import { scopeOf } from './auth.js';
import { given, minor } from './convert.js';
import { invalidArgument, notFound } from './errors.js';
import { LIST_PAGE_SIZE_DEFAULT, LIST_PAGE_SIZE_MAX, unwrapPageToken, wrapPageToken } from './payments-service.js';

export interface DisputeServiceDeps {
  client: Client;
  ledger: Ledger;
  task_queue: string;
  dispute_options?: DisputeWorkflowOptions | undefined;
}

/** A dispute id: <payment_id>:dispute:<key>, both parts of the payment id alphabet. */
const disputeIdSchema = paymentIdSchema.max(200).regex(/:dispute:/, { error: 'must be a dispute id (<payment_id>:dispute:<key>)' });
const listSchema = z.strictObject({
  status: z.enum(DISPUTE_STATUSES, { error: `must be one of ${DISPUTE_STATUSES.join(', ')}` }).optional(),
  payment_id: paymentIdSchema.optional(),
  page_size: z
    .number()
    .int()
    .min(0)
    .max(LIST_PAGE_SIZE_MAX, { error: `must be at most ${LIST_PAGE_SIZE_MAX}` }),
  page_token: z.string().max(4_096).optional(),
});

export function disputeToProto(view: DisputeView) {
  return {
    disputeId: view.dispute_id,
    paymentId: view.payment_id,
    companyId: view.company_id,
    currency: view.currency,
    reason: view.reason,
    evidence: view.evidence,
    status: view.status,
    amountMinor: BigInt(view.amount_minor),
    openMinor: BigInt(view.open_minor),
    creditedMinor: BigInt(view.credited_minor),
    wonMinor: BigInt(view.won_minor),
    reversedMinor: BigInt(view.reversed_minor),
    caseId: view.case_id ?? '',
    refusal: view.refusal ?? '',
    needsAttention: view.needs_attention,
    deadlineAt: view.deadline_at_ms === null ? '' : new Date(view.deadline_at_ms).toISOString(),
    timeline: view.timeline.map((e) => ({ at: new Date(e.at_ms).toISOString(), event: e.event, detail: e.detail ?? '' })),
  };
}

export function createDisputeService(deps: DisputeServiceDeps): ServiceImpl<typeof DisputeService> {
  const { client, ledger } = deps;
  const options = { task_queue: deps.task_queue, workflow: deps.dispute_options ?? DEFAULT_DISPUTE_OPTIONS };

  const disputeIdOrInvalid = (dispute_id: string) => {
    const parsed = disputeIdSchema.safeParse(dispute_id);
    if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, 'dispute_id'));
    return parsed.data;
  };
  /** The dispute, if the caller may see it; NOT_FOUND otherwise. */
  const visibleDispute = async (ctx: HandlerContext, dispute_id: string): Promise<DisputeView> => {
    let view: DisputeView;
    try {
      view = await getDispute(client, disputeIdOrInvalid(dispute_id));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound('dispute');
      throw err;
    }
    if (!scopeOf(ctx.values).company_ids.has(view.company_id)) throw notFound('dispute');
    return view;
  };

  /** A dispute with an outcome takes no more messages (its workflow has closed or is closing). */
  const decidedNotYet = (view: DisputeView): DisputeView => {
    if (isFinalDispute(view.status))
      throw new ConnectError(`dispute ${view.dispute_id} is ${view.status}: it takes no more messages`, Code.FailedPrecondition);
    return view;
  };

  return {
    async openDispute(req, ctx) {
      const request = parseOpenDispute({
        payment_id: req.paymentId,
        idempotency_key: req.idempotencyKey,
        reason: req.reason,
        amount_minor: minor(req.amountMinor),
        evidence: req.evidence,
      });
      let payment;
      try {
        payment = await getPayment(client, request.payment_id);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw notFound('payment');
        throw err;
      }
      if (!payment.company_id || !scopeOf(ctx.values).company_ids.has(payment.company_id)) throw notFound('payment');
      const opened = await openDispute(client, ledger, payment, request, options);
      return { dispute: disputeToProto(opened.dispute), started: opened.started };
    },

    async getDispute(req, ctx) {
      return { dispute: disputeToProto(await visibleDispute(ctx, req.disputeId)) };
    },

    async listDisputes(req, ctx) {
      const parsed = listSchema.safeParse({
        status: given(req.status),
        payment_id: given(req.paymentId),
        page_size: req.pageSize,
        page_token: given(req.pageToken),
      });
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
      const filter = parsed.data;
      // Every value passed a strict pattern (no quotes), so the query cannot be escaped.
      const companies = [...scopeOf(ctx.values).company_ids];
      const clauses = [`${CompanyIdKey.name} IN (${companies.map((c) => `'${c}'`).join(', ')})`];
      if (filter.status) clauses.push(`${DisputeStatusKey.name} = '${filter.status}'`);
      if (filter.payment_id) clauses.push(`${DisputedPaymentIdKey.name} = '${filter.payment_id}'`);
      const query = clauses.join(' AND ');
      const token = filter.page_token ? unwrapPageToken(`disputes ${query}`, filter.page_token) : undefined;
      const page = await listDisputes(client, query, { page_size: filter.page_size || LIST_PAGE_SIZE_DEFAULT, next_page_token: token });
      return {
        disputes: page.disputes.map((d) => ({
          disputeId: d.dispute_id,
          paymentId: d.payment_id,
          companyId: d.company_id,
          status: d.status,
          amountMinor: BigInt(d.amount_minor),
          currency: d.currency,
          needsAttention: d.needs_attention,
          openedAt: d.opened_at,
        })),
        nextPageToken: page.next_page_token ? wrapPageToken(`disputes ${query}`, page.next_page_token) : '',
      };
    },

    async withdrawDispute(req, ctx) {
      const parsed = withdrawDisputeSchema.safeParse({ reason: req.reason });
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
      const view = decidedNotYet(await visibleDispute(ctx, req.disputeId));
      return { dispute: disputeToProto(await withdrawDispute(client, view.dispute_id, parsed.data.reason)) };
    },

    async recordNetworkResponse(req, ctx) {
      const parsed = networkResponseSchema.safeParse({ response: req.response, detail: req.detail });
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
      const view = decidedNotYet(await visibleDispute(ctx, req.disputeId));
      if (view.status === 'OPENING') throw new ConnectError(`dispute ${view.dispute_id} is still being opened`, Code.Unavailable);
      return { dispute: disputeToProto(await recordNetworkResponse(client, view.dispute_id, parsed.data)) };
    },
  };
}
