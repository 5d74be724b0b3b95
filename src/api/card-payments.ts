// Card payments through Temporal: the one place clients (gRPC API, demo, benchmarks, tests) send a
// network message to a card payment, so every message gets the same workflow id, policies, update
// ids and search attributes.
import { createHash } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { z } from 'zod';
import {
  DEFAULT_CARD_OPTIONS,
  authorizationSchema,
  cardPaymentSchema,
  clearingSchema,
  incrementSchema,
  refundSchema,
  reversalSchema,
  type Authorization,
  type AuthorizationReply,
  type CardDecision,
  type CardPayment,
  type CardWorkflowOptions,
  type Clearing,
  type Increment,
  type Refund,
  type Reversal,
} from '../domain/card.js';
import { formatMinor } from '../domain/money.js';
import { paymentWorkflowId, type PaymentState } from '../domain/payment.js';
import {
  CardIdKey,
  CurrencyKey,
  MerchantCategoryKey,
  NeedsAttentionKey,
  PaymentKindKey,
  PaymentStatusKey,
} from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import type { cardPaymentWorkflow } from '../workflows/card-payment.js';
import { authorizeUpdate, clearUpdate, incrementUpdate, refundUpdate, reverseUpdate, standInAdviceSignal } from '../workflows/messages.js';
import { InvalidPaymentError, PaymentNotFoundError, getPayment } from './payments.js';

/** Parses a card message at the edge: a malformed one is an InvalidPaymentError naming the field
 * (`<what>.<field>: <rule>`). Exported so that a front door can refuse bad input before it looks
 * anything up. */
export function parseCardMessage<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new InvalidPaymentError(describeIssue(parsed.error, `${what}.`));
  return parsed.data;
}
const parse = parseCardMessage;

/** The payment refused the message (a clearing on a payment that cannot take one, a refund
 * above what was posted...): nothing was written. */
export class CardEventRefusedError extends Error {
  override name = 'CardEventRefusedError';
}

export interface CardClientOptions {
  task_queue: string;
  workflow?: CardWorkflowOptions;
}

function startOperation(payment: CardPayment, options: CardClientOptions, summary: string) {
  return new WithStartWorkflowOperation<typeof cardPaymentWorkflow>('cardPaymentWorkflow', {
    workflowId: paymentWorkflowId(payment.payment_id),
    taskQueue: options.task_queue,
    args: [payment, options.workflow ?? DEFAULT_CARD_OPTIONS],
    // One network transaction id is one payment: a running one is joined, a closed one is never
    // run again.
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    staticSummary: summary,
    typedSearchAttributes: [
      { key: PaymentStatusKey, value: 'RECEIVED' },
      { key: PaymentKindKey, value: 'card' },
      { key: CurrencyKey, value: payment.currency },
      { key: NeedsAttentionKey, value: false },
      { key: CardIdKey, value: payment.card_id },
      { key: MerchantCategoryKey, value: payment.merchant.mcc },
    ],
  });
}

/** Tells the payment the network answered the stand-in (starting it if the authorization has not
 * yet): a decision the workflow made in time by its clock, whose answer reached the network too
 * late, is undone (a decline) or flagged (an approval). Sent in the background after the stand-in
 * answer; if it is lost (this process dies at once), a late decision is still voided by the
 * workflow's own deadline check, and only the race within decision_margin_ms stays open. */
function sendStandInAdvice(
  client: Client,
  payment: CardPayment,
  stand_in: 'decline' | 'approve',
  options: CardClientOptions,
): Promise<void> {
  return client.workflow
    .signalWithStart<typeof cardPaymentWorkflow, [{ stand_in: 'decline' | 'approve' }]>('cardPaymentWorkflow', {
      workflowId: paymentWorkflowId(payment.payment_id),
      taskQueue: options.task_queue,
      args: [payment, options.workflow ?? DEFAULT_CARD_OPTIONS],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      signal: standInAdviceSignal,
      signalArgs: [{ stand_in }],
      staticSummary: `Card ${payment.card_id}: stand-in ${stand_in} at ${payment.merchant.name}`,
      typedSearchAttributes: [
        { key: PaymentStatusKey, value: 'RECEIVED' },
        { key: PaymentKindKey, value: 'card' },
        { key: CurrencyKey, value: payment.currency },
        { key: NeedsAttentionKey, value: false },
        { key: CardIdKey, value: payment.card_id },
        { key: MerchantCategoryKey, value: payment.merchant.mcc },
      ],
    })
    .then(
      () => undefined,
      () => undefined,
    );
}
/** How long the stand-in answer waits for its advice to be recorded (so that a retry answered
 * after it sees the stand-in's decline); past it, the answer goes and the advice follows. */
const STAND_IN_ADVICE_WAIT_MS_MAX = 200;

async function refusedOr<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new CardEventRefusedError(err.cause?.message ?? err.message);
    // A validator's rejection arrives as an update failure too; anything else is infrastructure.
    throw err;
  }
}

/** A repeated authorization (a retry of one the platform already has) found no decision yet by
 * its own deadline. The workflow judges lateness against the first request's deadline, which
 * this call does not know, so it cannot answer the stand-in without perhaps contradicting the
 * decision still to come: it answers nothing (DEADLINE_EXCEEDED), and the next retry gets the
 * workflow's decision. Nothing was written by this call. */
export class AuthorizationUndecidedError extends Error {
  override name = 'AuthorizationUndecidedError';
}

async function paymentExists(client: Client, payment_id: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(paymentWorkflowId(payment_id)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** The update id of one authorization request: the same request, the same id. */
export function authorizationUpdateId(authorization: { deadline_at_ms: number; amount_minor: number; stand_in: string }): string {
  const digest = createHash('sha256')
    .update(`${authorization.deadline_at_ms}:${authorization.amount_minor}:${authorization.stand_in}`)
    .digest('base64url')
    .slice(0, 22);
  return `authorization:${digest}`;
}

/** The answer the network gives when the issuer's is late. */
export function standInDecision(stand_in: 'decline' | 'approve'): CardDecision {
  return stand_in === 'approve'
    ? { approved: true, stand_in: true, held_minor: 0 }
    : { approved: false, reason: 'late_decision', stand_in: true, held_minor: 0 };
}

/**
 * Asks for an authorization decision: starts the payment (update-with-start) and waits for its
 * answer until the network's deadline. A late answer is replaced by the stand-in; the workflow
 * notices it was late by itself and voids what it held. A repeated authorization (same network
 * transaction id) returns the first decision and holds nothing more.
 */
export async function authorizeCardPayment(
  client: Client,
  paymentInput: CardPayment,
  authorizationInput: Authorization,
  options: CardClientOptions,
): Promise<CardDecision> {
  const payment = parse(cardPaymentSchema, paymentInput, 'payment');
  const authorization = parse(authorizationSchema, authorizationInput, 'authorization');
  const remaining_ms = authorization.deadline_at_ms - Date.now();
  if (remaining_ms <= 0) return standInDecision(authorization.stand_in);
  const summary = `Card ${payment.card_id}: ${formatMinor(authorization.amount_minor, payment.currency)} at ${payment.merchant.name} (MCC ${payment.merchant.mcc})`;
  // Only the request that starts the payment shares its deadline with the workflow; a retry must
  // not answer a stand-in of its own (see AuthorizationUndecidedError).
  const repeated = await paymentExists(client, payment.payment_id);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), remaining_ms);
  });
  try {
    const answer = await Promise.race([
      refusedOr(
        client.workflow.executeUpdateWithStart(authorizeUpdate, {
          args: [authorization],
          // One update id per distinct request: Temporal keeps one request per update id, so a
          // retry with another deadline under the first one's id could be run with one request's
          // deadline and recorded with the other's (a nondeterministic replay). The workflow runs
          // the first authorization and answers every repeat with its decision (once()). The id is
          // a digest of the request: update ids are stored in clear, amounts must not be.
          updateId: authorizationUpdateId(authorization),
          startWorkflowOperation: startOperation(payment, options, summary),
        }),
      ).catch(async (err: unknown): Promise<AuthorizationReply> => {
        // A closed payment is never restarted: its first decision stands.
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          const state = await getPayment(client, payment.payment_id);
          if (state.decision) return { ...state.decision, held_minor: state.held_minor, card_id: state.card_id ?? '' };
        }
        throw err;
      }),
      late,
    ]);
    if (answer === 'late') {
      if (repeated) throw new AuthorizationUndecidedError(`payment ${payment.payment_id}: no decision yet; retry with the same payment id`);
      await Promise.race([
        sendStandInAdvice(client, payment, authorization.stand_in, options),
        new Promise((r) => setTimeout(r, STAND_IN_ADVICE_WAIT_MS_MAX)),
      ]);
      return standInDecision(authorization.stand_in);
    }
    const { card_id, ...decision } = answer;
    if (card_id !== payment.card_id) throw new PaymentNotFoundError(`payment ${payment.payment_id} belongs to another card`);
    return decision;
  } finally {
    clearTimeout(timer);
  }
}

/** Raises the hold of a running payment. */
export async function incrementCardPayment(client: Client, payment_id: string, input: Increment): Promise<CardDecision> {
  const event = parse(incrementSchema, input, 'increment');
  const handle = client.workflow.getHandle(paymentWorkflowId(payment_id));
  return refusedOr(handle.executeUpdate(incrementUpdate, { args: [event], updateId: `increment:${event.event_id}` }));
}

/** Releases all or part of a running payment's hold. */
export async function reverseCardPayment(client: Client, payment_id: string, input: Reversal): Promise<PaymentState> {
  const event = parse(reversalSchema, input, 'reversal');
  const handle = client.workflow.getHandle(paymentWorkflowId(payment_id));
  return refusedOr(handle.executeUpdate(reverseUpdate, { args: [event], updateId: `reversal:${event.event_id}` }));
}

/** Sends a message that may be a payment's first (a clearing or refund with no authorization):
 * update-with-start, joining the running payment when there is one. */
function sendWithStart<E extends { event_id: string }>(
  client: Client,
  update: UpdateDefinition<PaymentState, [E]>,
  kind: 'clearing' | 'refund',
  payment: CardPayment,
  event: E,
  options: CardClientOptions,
  summary: string,
): Promise<PaymentState> {
  return refusedOr(
    client.workflow.executeUpdateWithStart(update, {
      args: [event],
      updateId: `${kind}:${event.event_id}`,
      startWorkflowOperation: startOperation(payment, options, summary),
    }),
  );
}

/** Posts a clearing; starts the payment when the network never authorized it (force post). */
export async function clearCardPayment(
  client: Client,
  paymentInput: CardPayment,
  input: Clearing,
  options: CardClientOptions,
): Promise<PaymentState> {
  const payment = parse(cardPaymentSchema, paymentInput, 'payment');
  const event = parse(clearingSchema, input, 'clearing');
  const summary = `Card ${payment.card_id}: clearing ${formatMinor(event.amount_minor, payment.currency)} at ${payment.merchant.name}`;
  return sendWithStart(client, clearUpdate, 'clearing', payment, event, options, summary);
}

/** Credits a refund or return; starts the payment when the original is unknown. */
export async function refundCardPayment(
  client: Client,
  paymentInput: CardPayment,
  input: Refund,
  options: CardClientOptions,
): Promise<PaymentState> {
  const payment = parse(cardPaymentSchema, paymentInput, 'payment');
  const event = parse(refundSchema, input, 'refund');
  const summary = `Card ${payment.card_id}: refund ${formatMinor(event.amount_minor, payment.currency)} from ${payment.merchant.name}`;
  return sendWithStart(client, refundUpdate, 'refund', payment, event, options, summary);
}
