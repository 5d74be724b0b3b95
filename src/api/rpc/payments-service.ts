// cardplatform.payments.v1.PaymentService: card network messages and payouts, over the same
// functions the demo and tests use (src/api/card-payments.ts, src/api/payments.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { Code, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes.js';
import { z } from 'zod';
import { PaymentService, StandIn, type CardTransaction } from '../../gen/cardplatform/payments/v1/payments_pb.js';
import type { Card, CardStore } from '../../cards/cards.js';
import { DatabaseBusyError } from '../../ledger/db.js';
import {
  DEFAULT_CARD_OPTIONS,
  authorizationSchema,
  cardPaymentSchema,
  clearingSchema,
  incrementSchema,
  refundSchema,
  reversalSchema,
  type CardDecision,
  type CardPayment,
  type CardWorkflowOptions,
} from '../../domain/card.js';
import { PAYMENT_STATUSES, paymentIdSchema, type PaymentState, type PayoutWorkflowOptions } from '../../domain/payment.js';
import {
  AmountMinorKey,
  CardIdKey,
  CompanyIdKey,
  CurrencyKey,
  NeedsAttentionKey,
  PaymentKindKey,
  PaymentStatusKey,
  paymentStatusClause,
  visibleStatus,
} from '../../domain/search-attributes.js';
import { describeIssue } from '../../domain/validation.js';
import { creditLineAccountId } from '../../ledger/ids.js';
import {
  answerRepeatedAuthorization,
  authorizeCardPayment,
  CardEventRefusedError,
  standInDecision,
  parseCardMessage,
  clearCardPayment,
  incrementCardPayment,
  refundCardPayment,
  reverseCardPayment,
} from '../card-payments.js';
import { InvalidPaymentError, PaymentNotFoundError, getPayment, parsePayout, startPayout } from '../payments.js';
import { disputesOfPayment, notifyDisputesOfRefund } from '../disputes.js';
import { getPaymentQuery } from '../../workflows/messages.js';
import { scopeOf } from './auth.js';
import type { ApiMetrics } from './metrics.js';
import { decisionToProto, given, minor, optionalMinor, paymentToProto } from './convert.js';
import { invalidArgument, notFound } from './errors.js';
import type { Logger } from 'pino';
import type { AdmissionControl, Refusal } from '../admission.js';
import { createDecidedAuthorizations, type DecidedAuthorizations } from '../decided-authorizations.js';
import type { DoorAdvice } from '../door-advice.js';

/** Deadline of an authorization whose caller set none (Stripe Issuing's is 2 s). */
export const AUTHORIZATION_DEADLINE_MS_DEFAULT = 2_000;
/** Taken off the caller's deadline: the answer must still travel back, through event loops (the
 * API's, the caller's) that lag by hundreds of ms when the machine's two cores are busy. With
 * 100 ms, bench:overload's runs on a loaded machine had 22-197 answers per 3x phase arrive after
 * the caller gave up; with 250 ms, its runs on the real Temporal server (its persistence on the
 * same Postgres: every core busy in the 3x phase) still had 6 and 4 (runs 17 and 18); with 400 ms
 * none in runs 19-27 and 30-37, but 4-22 in five of runs 38-44 on the real server, once the worker's
 * workflow threads took less CPU and the server and Postgres more. bench:overload measures the
 * lag: in run 45's 3x phase the API's event loop was up to 323 ms late and the caller's up to 61 ms,
 * 384 ms together (docs/performance.md). With 500 ms, four of runs 46-51 had at most one late;
 * run 51 had 17, its timers at most 362 ms late together. A stand-in answered 500 ms
 * early is still an answer in time; a decision has the remaining 1.5 s of a 2 s deadline (50-100 ms
 * at half load; admission treats over 1 s as slow). */
const RESPONSE_MARGIN_MS = 500;
export const LIST_PAGE_SIZE_DEFAULT = 50;
export const LIST_PAGE_SIZE_MAX = 500;
/** Longest page token accepted (Temporal's tokens are a few hundred bytes). */
const PAGE_TOKEN_LENGTH_MAX = 4_096;

export interface PaymentServiceDeps {
  client: Client;
  cards: CardStore;
  task_queue: string;
  /** Where new card payments start (their own worker and slots); default task_queue. */
  card_task_queue?: string | undefined;
  card_options?: CardWorkflowOptions;
  payout_options: PayoutWorkflowOptions;
  metrics?: Pick<ApiMetrics, 'authorization' | 'refused'> | undefined;
  /** Bounds the calls into Temporal (src/api/admission.ts); absent: unbounded (tests of other things). */
  admission?: AdmissionControl | undefined;
  /** Where answers given at the door (stand-ins) are recorded. */
  log?: Logger | undefined;
  /** Decisions that answer repeated authorizations (src/api/decided-authorizations.ts); default: this service's own. */
  decided?: DecidedAuthorizations | undefined;
  /** The stand-in advice owed after a door answer (src/api/door-advice.ts; startApiServer runs it). */
  door_advice: DoorAdvice;
}

/** How long past the caller's deadline an authorization's Temporal calls may run: the stand-in
 * advice sent after a late answer (src/api/card-payments.ts) needs a moment; the update's result
 * long poll is cut then, so a shed or late authorization leaves no poll behind. */
const AUTHORIZATION_ADVICE_GRACE_MS = 300;

function transactionOf(tx: CardTransaction | undefined): CardPayment {
  if (!tx) throw invalidArgument('transaction: required');
  return {
    payment_id: tx.paymentId,
    card_id: tx.cardId,
    currency: tx.currency as CardPayment['currency'],
    merchant: { mcc: tx.merchant?.mcc ?? '', name: tx.merchant?.name ?? '' },
  };
}

const rfc3339 = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time, e.g. 2026-11-25T00:00:00Z' });
const listFilterSchema = z.strictObject({
  status: z.enum(PAYMENT_STATUSES, { error: `must be one of ${PAYMENT_STATUSES.join(', ')}` }).optional(),
  card_id: paymentIdSchema.optional(),
  company_id: paymentIdSchema.optional(),
  started_after: rfc3339.optional(),
  started_before: rfc3339.optional(),
  page_size: z
    .number()
    .int()
    .min(0)
    .max(LIST_PAGE_SIZE_MAX, { error: `must be at most ${LIST_PAGE_SIZE_MAX}` }),
  page_token: z.string().max(PAGE_TOKEN_LENGTH_MAX).optional(),
});

/** ListPayments page tokens wrap Temporal's with a version byte and a checksum of the query they
 * page through: a token that is garbage, cut, re-encoded or from another filter is refused here,
 * before Temporal sees it. (The dev server answers an undecodable token UNKNOWN, which the SDK
 * retries for some 20 s before the caller hears anything.) Not a secret: a forged token still
 * ends in the INVALID_ARGUMENT below, only later. */
const PAGE_TOKEN_VERSION = 1;
const PAGE_TOKEN_CHECK_BYTES = 12;
const pageTokenCheck = (query: string, raw: Uint8Array) =>
  createHash('sha256').update(query).update(raw).digest().subarray(0, PAGE_TOKEN_CHECK_BYTES);

export function wrapPageToken(query: string, raw: Uint8Array): string {
  return Buffer.concat([Buffer.from([PAGE_TOKEN_VERSION]), pageTokenCheck(query, raw), raw]).toString('base64url');
}

export function unwrapPageToken(query: string, token: string): Uint8Array {
  const bytes = Buffer.from(token, 'base64url');
  const head = 1 + PAGE_TOKEN_CHECK_BYTES;
  if (bytes.length > head && bytes[0] === PAGE_TOKEN_VERSION && bytes.toString('base64url') === token) {
    const raw = bytes.subarray(head);
    if (timingSafeEqual(pageTokenCheck(query, raw), bytes.subarray(1, head))) return raw;
  }
  throw invalidArgument('page_token: not a token this server returned for this filter');
}

export function createPaymentService(deps: PaymentServiceDeps): ServiceImpl<typeof PaymentService> {
  const { client, cards } = deps;
  const cardOptions = { task_queue: deps.card_task_queue ?? deps.task_queue, workflow: deps.card_options ?? DEFAULT_CARD_OPTIONS };
  const decided = deps.decided ?? createDecidedAuthorizations();
  const doorAdvice = deps.door_advice;

  /** The payment, if the caller may see it; NOT_FOUND otherwise (never another company's data). */
  const visiblePayment = async (ctx: HandlerContext, payment_id: string): Promise<PaymentState> => {
    if (!paymentIdSchema.safeParse(payment_id).success)
      throw invalidArgument(`payment_id: ${describeIssue(paymentIdSchema.safeParse(payment_id).error!)}`);
    let state: PaymentState;
    try {
      state = await getPayment(client, payment_id);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound('payment');
      throw err;
    }
    if (state.company_id) {
      if (!scopeOf(ctx.values).company_ids.has(state.company_id)) throw notFound('payment');
      return state;
    }
    // A card payment whose workflow has not resolved its card yet: started before its first
    // message (as the demo starts its payments), whose authorization the API answered with the
    // stand-in at the door, the advice that declines it still on its way (it resolves the card
    // first). The payment is its card's company's: answering NOT_FOUND here told the caller that a
    // payment it had just been answered about did not exist.
    if (!state.card_id || !(await callersCard(ctx, state.card_id))) throw notFound('payment');
    return state;
  };
  /** The card, if it is one of the caller's companies'; null otherwise. */
  const callersCard = async (ctx: HandlerContext, card_id: string) => {
    const card = await cards.get(card_id);
    return card && scopeOf(ctx.values).company_ids.has(card.company_id) ? card : null;
  };
  /** The card of a new card message must be one of the caller's companies'. */
  const visibleCard = async (ctx: HandlerContext, card_id: string) => {
    const card = await callersCard(ctx, card_id);
    if (!card) throw notFound('card');
    return card;
  };
  /** A message about an existing payment must come from its company and name its card. */
  const checkExisting = async (ctx: HandlerContext, payment: CardPayment) => {
    let state: PaymentState | null = null;
    try {
      state = await getPayment(client, payment.payment_id);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    if (state?.company_id) {
      if (!scopeOf(ctx.values).company_ids.has(state.company_id)) throw notFound('payment');
      if (state.card_id !== payment.card_id) throw invalidArgument(`transaction.card_id: payment ${payment.payment_id} is on another card`);
    } else {
      // Not started, or started by a message the workflow has not processed yet (a retry whose
      // first attempt's answer was lost): the caller must own the card, and it must be the payment's.
      await visibleCard(ctx, payment.card_id);
      if (state?.card_id && state.card_id !== payment.card_id) {
        throw invalidArgument(`transaction.card_id: payment ${payment.payment_id} is on another card`);
      }
    }
  };
  const paymentIdOrInvalid = (payment_id: string, field = 'payment_id') => {
    const parsed = paymentIdSchema.safeParse(payment_id);
    if (!parsed.success) throw invalidArgument(describeIssue(parsed.error, `${field}`).replace(/^payment_id\(item\)/, field));
    return parsed.data;
  };

  // --- admission control (src/api/admission.ts) ---
  /** The stand-in answered at the door: nothing reached Temporal for this request, so this request
   * placed no hold. Recorded (log line and metric), and the payment is advised in the background
   * in case an earlier delivery of the same authorization reached it (src/api/door-advice.ts), so
   * the network's answer and the platform agree; a later clearing of a payment that never
   * started is a force post. */
  const standInAtTheDoor = (
    payment: CardPayment,
    authorization: { amount_minor: number; deadline_at_ms: number; stand_in: 'decline' | 'approve' },
    reason: Refusal,
    latency_ms: number,
    advise = true,
  ) => {
    const decision = standInDecision(authorization.stand_in);
    deps.metrics?.refused('authorization', reason);
    deps.metrics?.authorization({ approved: decision.approved, reason: decision.reason ?? 'none', stand_in: true, latency_ms });
    deps.log?.warn(
      {
        payment_id: payment.payment_id,
        card_id: payment.card_id,
        amount_minor: authorization.amount_minor,
        stand_in: authorization.stand_in,
        reason,
        left_ms: authorization.deadline_at_ms - Date.now(),
      },
      'authorization answered by the stand-in at the door: nothing reached Temporal, no hold placed by this request',
    );
    // The advice may change the payment's decision (an approval voided): no longer the one kept.
    decided.forget(payment.payment_id);
    if (advise) doorAdvice.advise(payment.payment_id, authorization.stand_in, authorization.deadline_at_ms);
    return { decision: decisionToProto(decision) };
  };
  /** The card, unless the deadline comes first ('late') or the database refuses at once ('busy'). */
  const readCardBy = async (reading: Promise<Card>, deadline_at_ms: number): Promise<Card | 'late' | 'busy'> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), Math.max(0, deadline_at_ms - Date.now()));
    });
    try {
      return await Promise.race([
        reading.catch((err: unknown) => {
          if (err instanceof DatabaseBusyError) return 'busy' as const;
          throw err;
        }),
        late,
      ]);
    } finally {
      clearTimeout(timer);
      reading.catch(() => undefined); // a read that lost the race may still fail: nobody waits for it
    }
  };
  /** The decision, or the stand-in when the deadline comes first (`onLate` then runs). */
  const answeredByDeadline = async (
    deciding: Promise<CardDecision>,
    authorization: { deadline_at_ms: number; stand_in: 'decline' | 'approve' },
    onLate: () => void,
  ): Promise<CardDecision> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), Math.max(0, authorization.deadline_at_ms - Date.now()));
    });
    try {
      const answer = await Promise.race([deciding, late]);
      if (answer !== null) return answer;
      onLate();
      return standInDecision(authorization.stand_in);
    } finally {
      clearTimeout(timer);
    }
  };
  // --- end of admission control ---

  return {
    async authorize(req, ctx) {
      const payment = transactionOf(req.transaction);
      // Validate everything before any lookup, so bad input is answered the same for everyone.
      const timeout_ms = ctx.timeoutMs() ?? AUTHORIZATION_DEADLINE_MS_DEFAULT;
      const authorization = {
        amount_minor: minor(req.amountMinor),
        deadline_at_ms: Date.now() + Math.max(timeout_ms - RESPONSE_MARGIN_MS, 0),
        stand_in: req.standIn === StandIn.APPROVE ? ('approve' as const) : ('decline' as const),
      };
      if (req.standIn !== StandIn.UNSPECIFIED && req.standIn !== StandIn.APPROVE && req.standIn !== StandIn.DECLINE) {
        throw invalidArgument(`stand_in: unknown value ${req.standIn}`);
      }
      parseCardMessage(cardPaymentSchema, payment, 'transaction');
      parseCardMessage(authorizationSchema, authorization, 'authorization');
      // The card's company goes to the payment's start (a search attribute it need not upsert).
      // The read is bounded by the deadline like everything after it: a database too busy to
      // answer in time gets the stand-in, not a late answer or an error. The payment is advised
      // (door-advice.ts) only once the read shows the card is the caller's: a late read still
      // finishes and advises then; a refused one (nothing read) advises nothing.
      const read_from_ms = performance.now();
      const reading = visibleCard(ctx, payment.card_id);
      const card = await readCardBy(reading, authorization.deadline_at_ms);
      if (card === 'late' || card === 'busy') {
        if (card === 'late') {
          reading.then(
            () => {
              decided.forget(payment.payment_id);
              doorAdvice.advise(payment.payment_id, authorization.stand_in, authorization.deadline_at_ms);
            },
            () => undefined, // not the caller's card, or the read failed: nothing to advise
          );
        }
        return standInAtTheDoor(
          payment,
          authorization,
          card === 'late' ? 'deadline' : 'saturated',
          performance.now() - read_from_ms,
          false,
        );
      }
      // A repeat whose payment has decided is answered from that decision: nothing reaches Temporal.
      const first = decided.get(payment.payment_id);
      if (first) {
        const decision = answerRepeatedAuthorization(payment, authorization.amount_minor, first);
        deps.metrics?.authorization({ approved: decision.approved, reason: decision.reason ?? 'none', stand_in: false, latency_ms: 0 });
        return { decision: decisionToProto(decision) };
      }
      // --- admission control (src/api/admission.ts) ---
      const admitted_from_ms = performance.now();
      const admission = deps.admission ? await deps.admission.authorization(payment.payment_id, authorization.deadline_at_ms) : null;
      if (admission && !admission.admitted) {
        return standInAtTheDoor(payment, authorization, admission.reason, performance.now() - admitted_from_ms);
      }
      // --- end of admission control ---
      let handed_off = false;
      let observed = false;
      const started_ms = performance.now();
      try {
        // Every Temporal call of this authorization (the update, its result polls, their retries)
        // ends at the caller's deadline (plus the advice's grace): none outlives the answer.
        const deciding = client.withDeadline(authorization.deadline_at_ms + RESPONSE_MARGIN_MS + AUTHORIZATION_ADVICE_GRACE_MS, () =>
          authorizeCardPayment(client, payment, authorization, cardOptions, { company_id: card.company_id }),
        );
        // --- answered by the deadline (admission control) ---
        // The card client answers a late decision with the stand-in only after sending the advice
        // (up to 200 ms past the deadline, which the caller no longer waits for). This timer is
        // set after the client's own deadline timer, for the same instant: when it fires, the
        // client has taken its late path (the advice goes out) or already answered. The stand-in
        // is answered in time; the slot stays taken until the client is done.
        const decision = await answeredByDeadline(deciding, authorization, () => {
          handed_off = true;
          void deciding.then(
            () => admission?.release(),
            () => admission?.release(),
          );
        });
        observed = true;
        deps.admission?.observeAuthorization(performance.now() - started_ms);
        // --- end ---
        if (!decision.stand_in)
          decided.remember(payment.payment_id, { card_id: payment.card_id, amount_minor: authorization.amount_minor, decision });
        deps.metrics?.authorization({
          approved: decision.approved,
          reason: decision.reason ?? 'none',
          stand_in: decision.stand_in,
          latency_ms: performance.now() - started_ms,
        });
        return { decision: decisionToProto(decision) };
      } catch (err) {
        // An authorization the engine failed to answer tells the bound as much as a slow one (an
        // overloaded server answers UNAVAILABLE or runs out the deadline); a refusal is an answer.
        if (!observed && deps.admission) {
          const answered =
            err instanceof PaymentNotFoundError || err instanceof CardEventRefusedError || err instanceof InvalidPaymentError;
          const elapsed_ms = performance.now() - started_ms;
          deps.admission.observeAuthorization(
            answered ? elapsed_ms : Math.max(elapsed_ms, deps.admission.limits.authorization_latency_target_ms + 1),
          );
        }
        if (err instanceof PaymentNotFoundError) throw notFound('payment');
        throw err;
      } finally {
        if (admission && !handed_off) admission.release();
      }
    },

    async increment(req, ctx) {
      const payment_id = paymentIdOrInvalid(req.paymentId);
      decided.forget(payment_id); // what it holds changes
      // Like an authorization, an increment carries the caller's deadline: past it, the stand-in.
      const timeout_ms = ctx.timeoutMs();
      const event = parseCardMessage(
        incrementSchema,
        {
          event_id: req.eventId,
          amount_minor: minor(req.amountMinor),
          ...(timeout_ms !== undefined ? { deadline_at_ms: Date.now() + Math.max(timeout_ms - RESPONSE_MARGIN_MS, 0) } : {}),
        },
        'increment',
      );
      await visiblePayment(ctx, payment_id);
      const decision = await incrementCardPayment(client, payment_id, event);
      return { decision: decisionToProto(decision) };
    },

    async reverse(req, ctx) {
      const payment_id = paymentIdOrInvalid(req.paymentId);
      decided.forget(payment_id); // what it holds changes
      const amount_minor = optionalMinor(req.amountMinor);
      const event = parseCardMessage(
        reversalSchema,
        { event_id: req.eventId, ...(amount_minor !== undefined ? { amount_minor } : {}) },
        'reversal',
      );
      await visiblePayment(ctx, payment_id);
      return { payment: paymentToProto(await reverseCardPayment(client, payment_id, event)) };
    },

    async clear(req, ctx) {
      const payment = transactionOf(req.transaction);
      decided.forget(payment.payment_id); // what it holds changes
      const event = { event_id: req.eventId, amount_minor: minor(req.amountMinor), final: !req.moreToCome };
      parseCardMessage(cardPaymentSchema, payment, 'transaction');
      parseCardMessage(clearingSchema, event, 'clearing');
      await checkExisting(ctx, payment);
      return { payment: paymentToProto(await clearCardPayment(client, payment, event, cardOptions)) };
    },

    async refund(req, ctx) {
      const payment = transactionOf(req.transaction);
      decided.forget(payment.payment_id); // what it holds changes
      const event = { event_id: req.eventId, amount_minor: minor(req.amountMinor) };
      parseCardMessage(cardPaymentSchema, payment, 'transaction');
      parseCardMessage(refundSchema, event, 'refund');
      await checkExisting(ctx, payment);
      const refunded = await refundCardPayment(client, payment, event, cardOptions);
      // An open dispute reconciles the refund now rather than at its next message (best effort).
      await notifyDisputesOfRefund(client, payment.payment_id).catch((err: unknown) =>
        deps.log?.warn({ payment_id: payment.payment_id, err: (err as Error).message }, 'open disputes not told of a refund'),
      );
      return { payment: paymentToProto(refunded) };
    },

    async payout(req, ctx) {
      const currency = req.currency as CardPayment['currency'];
      const company_id = req.companyId;
      const request = {
        payment_id: req.paymentId,
        company_id,
        // Derived: the company's credit line in the payout's currency (a bad currency or company
        // is refused by the schema before this id is used).
        account_id: paymentIdSchema.safeParse(company_id).success ? creditLineAccountId(company_id, currency) : '',
        amount_minor: minor(req.amountMinor),
        currency,
        payee: { name: req.payee?.name ?? '', bank_account: req.payee?.bankAccount ?? '' },
      };
      parsePayout(request);
      if (!scopeOf(ctx.values).company_ids.has(company_id)) throw notFound('company');
      let existing: PaymentState | null = null;
      try {
        existing = await getPayment(client, request.payment_id);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      if (existing) {
        if (existing.company_id !== company_id) throw notFound('payment');
        return { payment: paymentToProto(existing), started: false };
      }
      const { handle, started } = await startPayout(client, request, deps.task_queue, deps.payout_options);
      return { payment: paymentToProto(await handle.query(getPaymentQuery)), started };
    },

    async getPayment(req, ctx) {
      const payment_id = paymentIdOrInvalid(req.paymentId);
      const state = await visiblePayment(ctx, payment_id);
      // A card payment's disputes live in their own workflows (the card's authorization path is
      // left alone): joined here.
      return { payment: paymentToProto(state, state.kind === 'card' ? await disputesOfPayment(client, payment_id) : []) };
    },

    async listPayments(req, ctx) {
      const parsed = listFilterSchema.safeParse({
        status: given(req.status),
        card_id: given(req.cardId),
        company_id: given(req.companyId),
        started_after: given(req.startedAfter),
        started_before: given(req.startedBefore),
        page_size: req.pageSize,
        page_token: given(req.pageToken),
      });
      if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
      const filter = parsed.data;
      const scope = scopeOf(ctx.values);
      if (filter.company_id && !scope.company_ids.has(filter.company_id)) return { payments: [], nextPageToken: '' };
      if (filter.started_after && filter.started_before && filter.started_after > filter.started_before) {
        throw invalidArgument('started_after: must not be later than started_before');
      }
      // Every value below passed a strict pattern (no quotes), so the query cannot be escaped.
      const companies = filter.company_id ? [filter.company_id] : [...scope.company_ids];
      // Payments only: other workflows carry CompanyId too (billing-<company>-<currency>).
      const clauses = [
        `WorkflowType IN ('payoutWorkflow', 'cardPaymentWorkflow')`,
        `${CompanyIdKey.name} IN (${companies.map((c) => `'${c}'`).join(', ')})`,
      ];
      if (filter.status) clauses.push(paymentStatusClause(filter.status));
      if (filter.card_id) clauses.push(`${CardIdKey.name} = '${filter.card_id}'`);
      if (filter.started_after) clauses.push(`StartTime >= '${filter.started_after}'`);
      if (filter.started_before) clauses.push(`StartTime < '${filter.started_before}'`);
      const query = clauses.join(' AND ');
      const nextPageToken = filter.page_token ? unwrapPageToken(query, filter.page_token) : undefined;
      let response;
      try {
        response = await client.workflowService.listWorkflowExecutions({
          namespace: client.options.namespace,
          query,
          pageSize: filter.page_size || LIST_PAGE_SIZE_DEFAULT,
          ...(nextPageToken ? { nextPageToken } : {}),
        });
      } catch (err) {
        // A token Temporal cannot decode is refused as INVALID_ARGUMENT by some servers and as
        // UNKNOWN by others (the dev server's SQLite visibility): either way the caller's token is bad.
        const code = (err as { code?: number }).code;
        if (nextPageToken && (code === Code.InvalidArgument || code === Code.Unknown)) {
          throw invalidArgument('page_token: not a token this server returned');
        }
        throw err;
      }
      const payments = (response.executions ?? []).map((e) => {
        const attrs = decodeTypedSearchAttributes(e.searchAttributes?.indexedFields);
        const started = e.startTime?.seconds ? new Date(Number(e.startTime.seconds) * 1000).toISOString() : '';
        return {
          paymentId: (e.execution?.workflowId ?? '').replace(/^payment-/, ''),
          kind: attrs.get(PaymentKindKey) ?? '',
          status: visibleStatus(attrs.get(PaymentStatusKey), attrs.get(PaymentKindKey), e.status) ?? '',
          companyId: attrs.get(CompanyIdKey) ?? '',
          cardId: attrs.get(CardIdKey) ?? '',
          amountMinor: BigInt(attrs.get(AmountMinorKey) ?? 0),
          currency: attrs.get(CurrencyKey) ?? '',
          needsAttention: attrs.get(NeedsAttentionKey) ?? false,
          startedAt: started,
        };
      });
      const token = response.nextPageToken && response.nextPageToken.length > 0 ? wrapPageToken(query, response.nextPageToken) : '';
      return { payments, nextPageToken: token };
    },
  };
}
