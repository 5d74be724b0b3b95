// Card payments through Temporal: the one place clients (gRPC API, demo, benchmarks, tests) send a
// network message to a card payment, so every message gets the same workflow id, policies, update
// ids and search attributes.
import { createHash, randomUUID } from 'node:crypto';
import {
  QueryNotRegisteredError,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { SearchAttributePair, UpdateDefinition } from '@temporalio/common';
import type { z } from 'zod';
import {
  CARD_WORKFLOW_VERSION,
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
  type StandInAnswer,
} from '../domain/card.js';
import { formatMinor } from '../domain/money.js';
import { paymentWorkflowId, type PaymentState } from '../domain/payment.js';
import {
  AmountMinorKey,
  CardIdKey,
  CompanyIdKey,
  CurrencyKey,
  MerchantCategoryKey,
  NeedsAttentionKey,
  PaymentKindKey,
} from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import type { CardCarried, cardPaymentWorkflow } from '../workflows/card-payment.js';
import {
  authorizeUpdate,
  cardLifecycleQuery,
  clearUpdate,
  incrementUpdate,
  refundUpdate,
  reverseUpdate,
  standInAdviceSignal,
} from '../workflows/messages.js';
import { InvalidPaymentError, getPayment } from './payments.js';

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

/** What the caller already knows about a new card payment, given to its run at start so that the
 * run need not upsert it (a Temporal action each): the card's company (the API reads the card to
 * check the caller's tenancy) and the amount of the authorization that starts it. */
export interface CardStartFacts {
  company_id?: string | undefined;
  amount_minor?: number | undefined;
}

/** The arguments of a new card payment run: this code's workflow version
 * (src/domain/card.ts CARD_WORKFLOW_VERSION), the options, and what a closed run handed over. */
export function cardWorkflowArgs(
  payment: CardPayment,
  workflow: CardWorkflowOptions | undefined,
  carried?: CardCarried,
): Parameters<typeof cardPaymentWorkflow> {
  const options: CardWorkflowOptions = { ...(workflow ?? DEFAULT_CARD_OPTIONS), version: CARD_WORKFLOW_VERSION };
  return carried ? [payment, options, carried] : [payment, options];
}

/** The search attributes a card payment starts with: everything fixed, and no PaymentStatus (a
 * versioned run is AUTHORIZED while open and SETTLED once completed unless it writes another,
 * src/domain/search-attributes.ts IMPLIED_CARD_STATUS). */
export function cardStartAttributes(payment: CardPayment, facts: CardStartFacts = {}): SearchAttributePair[] {
  return [
    { key: PaymentKindKey, value: 'card' },
    { key: CurrencyKey, value: payment.currency },
    { key: NeedsAttentionKey, value: false },
    { key: CardIdKey, value: payment.card_id },
    { key: MerchantCategoryKey, value: payment.merchant.mcc },
    ...(facts.company_id !== undefined ? [{ key: CompanyIdKey, value: facts.company_id }] : []),
    ...(facts.amount_minor !== undefined ? [{ key: AmountMinorKey, value: facts.amount_minor }] : []),
  ];
}

function startOperation(payment: CardPayment, options: CardClientOptions, summary: string, carried?: CardCarried, facts?: CardStartFacts) {
  return new WithStartWorkflowOperation<typeof cardPaymentWorkflow>('cardPaymentWorkflow', {
    workflowId: paymentWorkflowId(payment.payment_id),
    taskQueue: options.task_queue,
    args: cardWorkflowArgs(payment, options.workflow, carried),
    // One network transaction id is one payment: a running one is joined; a closed one is run
    // again only to take a late message, from where its last run ended (`carried`).
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: carried ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
    staticSummary: summary,
    typedSearchAttributes: cardStartAttributes(payment, facts),
  });
}

/** Tells the payment the network answered the stand-in (starting it if the authorization has not
 * yet): a decision the workflow made in time by its clock, whose answer reached the network too
 * late, is undone (a decline) or flagged (an approval). Retried until the server acknowledges it
 * (the signal is then in the payment's history), within a bound; the stand-in answer is given
 * only after it, so a process that dies before answering has not answered either. */
async function sendStandInAdvice(
  client: Client,
  payment: CardPayment,
  stand_in: 'decline' | 'approve',
  options: CardClientOptions,
): Promise<void> {
  let carried: CardCarried | undefined;
  for (let attempt = 1; ; attempt += 1) {
    try {
      // Each attempt has its own deadline: the advice outlives the caller's (whose deadline the
      // network has passed already), or it would never be delivered once the answer was late.
      await client.withDeadline(Date.now() + STAND_IN_ADVICE_ATTEMPT_MS_MAX, () =>
        client.workflow.signalWithStart<typeof cardPaymentWorkflow, [{ stand_in: 'decline' | 'approve' }]>('cardPaymentWorkflow', {
          workflowId: paymentWorkflowId(payment.payment_id),
          taskQueue: options.task_queue,
          args: cardWorkflowArgs(payment, options.workflow, carried),
          workflowIdReusePolicy: carried ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
          signal: standInAdviceSignal,
          signalArgs: [{ stand_in }],
          staticSummary: `Card ${payment.card_id}: stand-in ${stand_in} at ${payment.merchant.name}`,
          typedSearchAttributes: cardStartAttributes(payment),
        }),
      );
      return;
    } catch (err) {
      // A payment that has closed (at its final state) takes the advice in a new run from where it
      // ended; one closed before the decider answers no lifecycle query: nothing to advise.
      if (err instanceof WorkflowExecutionAlreadyStartedError && !carried) {
        try {
          carried = await client.withDeadline(Date.now() + STAND_IN_ADVICE_ATTEMPT_MS_MAX, () => closedPaymentState(client, payment));
          continue;
        } catch (queryErr) {
          if (queryErr instanceof QueryNotRegisteredError) return;
          if (attempt >= STAND_IN_ADVICE_ATTEMPTS_MAX) throw queryErr;
          await new Promise((r) => setTimeout(r, STAND_IN_ADVICE_BACKOFF_MS * attempt));
          continue;
        }
      }
      if (attempt >= STAND_IN_ADVICE_ATTEMPTS_MAX) throw err;
      await new Promise((r) => setTimeout(r, STAND_IN_ADVICE_BACKOFF_MS * attempt));
    }
  }
}
/** The stand-in advice after a door answer (src/api/door-advice.ts): a plain signal, so a payment
 * that does not exist is not created ('not_started': nothing reached Temporal), and one closed at
 * its final state is left alone. One attempt, bounded like the late path's. */
export async function adviseStartedPayment(
  client: Client,
  payment_id: string,
  stand_in: 'decline' | 'approve',
): Promise<'advised' | 'not_started'> {
  try {
    await client.withDeadline(Date.now() + STAND_IN_ADVICE_ATTEMPT_MS_MAX, () =>
      client.workflow.getHandle(paymentWorkflowId(payment_id)).signal(standInAdviceSignal, { stand_in }),
    );
    return 'advised';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'not_started';
    throw err;
  }
}
/** The stand-in advice is tried this many times, backing off linearly from this (about 5 s in all). */
const STAND_IN_ADVICE_ATTEMPTS_MAX = 10;
/** One attempt of the advice (a signal-with-start, or reading a closed payment), at most. */
const STAND_IN_ADVICE_ATTEMPT_MS_MAX = 2_000;
const STAND_IN_ADVICE_BACKOFF_MS = 100;

/** The payment's ledger step failed (the ledger is unreachable, a step timed out): nothing is
 * lost, the payment is flagged, and the same message delivered again runs the step again. */
export class CardStepFailedError extends Error {
  override name = 'CardStepFailedError';
}

/** A repeated authorization that is not a repeat: another amount, or another card, under a
 * transaction id the platform already has. Refused (ALREADY_EXISTS); nothing was written. */
export class AuthorizationConflictError extends Error {
  override name = 'AuthorizationConflictError';
}

/** The payment has an authorization for another amount or card: a "repeat" that is not one. */
function authorizationConflict(
  payment_id: string,
  first: { card_id?: string; amount_minor: number },
  repeat: CardPayment & { amount_minor: number },
) {
  if (first.card_id !== undefined && first.card_id !== repeat.card_id) {
    return new AuthorizationConflictError(`payment ${payment_id} exists on another card: a new card needs a new transaction id`);
  }
  return new AuthorizationConflictError(
    `payment ${payment_id} was authorized for ${first.amount_minor} minor units; a repeat for ${repeat.amount_minor} needs a new transaction id`,
  );
}

/** A repeated authorization answered from the decision its payment made (kept by the caller,
 * src/api/decided-authorizations.ts): the same card and amount get that decision; another
 * amount or card is refused (AuthorizationConflictError), as the payment itself refuses it. */
export function answerRepeatedAuthorization(
  payment: CardPayment,
  amount_minor: number,
  first: { card_id: string; amount_minor: number; decision: CardDecision },
): CardDecision {
  if (first.card_id !== payment.card_id || first.amount_minor !== amount_minor) {
    throw authorizationConflict(payment.payment_id, first, { ...payment, amount_minor });
  }
  return first.decision;
}

async function refusedOr<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const type = err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
      const message = err.cause?.message ?? err.message;
      if (type === 'AuthorizationConflict') throw new AuthorizationConflictError(message);
      if (type === 'CardStepFailed') throw new CardStepFailedError(message);
      throw new CardEventRefusedError(message);
    }
    // A validator's rejection arrives as an update failure too; anything else is infrastructure.
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

/** Runs `call` until the deadline; past it (or when the answer arrives past it) the network has
 * answered the stand-in: the payment is told (advice, acknowledged before the answer goes), and
 * the caller gets the stand-in decision. */
async function inTimeOrStandIn<T extends CardDecision>(
  call: Promise<T>,
  deadline_at_ms: number,
  stand_in: StandInAnswer,
  advise: () => Promise<void>,
): Promise<T | CardDecision> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), Math.max(deadline_at_ms - Date.now(), 0));
  });
  try {
    const answer = await Promise.race([call, late]);
    // The clock is read when the answer arrives: one that comes after the deadline reaches a
    // network that has already stood in.
    if (answer !== 'late' && Date.now() <= deadline_at_ms) return answer;
    call.catch(() => undefined);
    await advise();
    return standInDecision(stand_in);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Asks for an authorization decision: starts the payment (update-with-start, no other call before
 * it) and waits for its answer until the network's deadline (`deadline_at_ms`, which already
 * leaves the response margin). A late answer is replaced by the stand-in, and the payment gets the
 * stand-in advice; the workflow also treats a decision made after the deadline as late by itself.
 * A repeated authorization (same network transaction id, same amount and card) returns the first
 * decision and holds nothing more; another amount or card is refused (AuthorizationConflictError).
 */
export async function authorizeCardPayment(
  client: Client,
  paymentInput: CardPayment,
  authorizationInput: Authorization,
  options: CardClientOptions,
  known: Pick<CardStartFacts, 'company_id'> = {},
): Promise<CardDecision> {
  const payment = parse(cardPaymentSchema, paymentInput, 'payment');
  const authorization = parse(authorizationSchema, authorizationInput, 'authorization');
  if (authorization.deadline_at_ms - Date.now() <= 0) return standInDecision(authorization.stand_in);
  const summary = `Card ${payment.card_id}: ${formatMinor(authorization.amount_minor, payment.currency)} at ${payment.merchant.name} (MCC ${payment.merchant.mcc})`;
  const call = refusedOr(
    client.workflow.executeUpdateWithStart(authorizeUpdate, {
      args: [authorization],
      // One update id per distinct request: Temporal keeps one request per update id, so a retry
      // with another deadline under the first one's id could be run with one request's deadline
      // and recorded with the other's. The id is a digest of the request: update ids are stored
      // in clear, amounts must not be.
      updateId: authorizationUpdateId(authorization),
      startWorkflowOperation: startOperation(payment, options, summary, undefined, {
        company_id: known.company_id,
        amount_minor: authorization.amount_minor,
      }),
    }),
  )
    .catch(async (err: unknown): Promise<AuthorizationReply> => {
      // A closed payment is never restarted by an authorization: its first decision stands.
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        const state = await getPayment(client, payment.payment_id);
        if (state.decision) {
          // amount 0: the payment closed before any authorization reached it (the advice came first).
          if (state.amount_minor !== 0 && state.amount_minor !== authorization.amount_minor) {
            throw authorizationConflict(payment.payment_id, { amount_minor: state.amount_minor }, { ...payment, ...authorization });
          }
          return { ...state.decision, held_minor: state.held_minor, card_id: state.card_id ?? '' };
        }
        throw new CardEventRefusedError(
          `payment ${payment.payment_id} has completed without an authorization (a clearing or refund came first): an authorization must be its first message`,
        );
      }
      throw err;
    })
    .then(({ card_id, ...decision }): CardDecision => {
      if (card_id !== payment.card_id) {
        throw authorizationConflict(
          payment.payment_id,
          { card_id, amount_minor: authorization.amount_minor },
          { ...payment, ...authorization },
        );
      }
      return decision;
    });
  return inTimeOrStandIn(call, authorization.deadline_at_ms, authorization.stand_in, () =>
    sendStandInAdvice(client, payment, authorization.stand_in, options),
  );
}

/** Raises the hold of a running payment. With a deadline, answered like an authorization: past it,
 * the stand-in (the workflow judges the decision late by the same deadline and follows it). */
export async function incrementCardPayment(client: Client, payment_id: string, input: Increment): Promise<CardDecision> {
  const event = parse(incrementSchema, input, 'increment');
  const handle = client.workflow.getHandle(paymentWorkflowId(payment_id));
  if (event.deadline_at_ms !== undefined && event.deadline_at_ms - Date.now() <= 0) return standInDecision(event.stand_in);
  const call = refusedOr(
    handle.executeUpdate(incrementUpdate, { args: [event], updateId: deliveryId(`increment:${event.event_id}`) }),
  ).catch(async (err: unknown): Promise<CardDecision> => {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    // A completed payment holds nothing to raise (not found stays not found).
    const state = await getPayment(client, payment_id);
    throw new CardEventRefusedError(
      `nothing is held: an increment needs an approved, uncleared authorization; the payment is ${state.status}`,
    );
  });
  if (event.deadline_at_ms === undefined) return call;
  return inTimeOrStandIn(call, event.deadline_at_ms, event.stand_in, async () => undefined);
}

/** The update id of one delivery of a network message: the payment itself makes a repeated
 * message (same event id) change nothing, and a delivery whose step failed must run again, which
 * Temporal would not do under the first delivery's update id (it answers the cached failure). */
function deliveryId(key: string): string {
  return `${key}:${randomUUID()}`;
}

/** Releases all or part of a running payment's hold. */
export async function reverseCardPayment(client: Client, payment_id: string, input: Reversal): Promise<PaymentState> {
  const event = parse(reversalSchema, input, 'reversal');
  const handle = client.workflow.getHandle(paymentWorkflowId(payment_id));
  return refusedOr(handle.executeUpdate(reverseUpdate, { args: [event], updateId: deliveryId(`reversal:${event.event_id}`) })).catch(
    async (err: unknown) => {
      // A completed payment holds nothing: the reversal has nothing to release (as the payment
      // itself answers while open). A payment that never existed is still not found.
      if (err instanceof WorkflowNotFoundError) return getPayment(client, payment_id);
      throw err;
    },
  );
}

/** Sends a message that may be a payment's first (a clearing or refund with no authorization):
 * update-with-start, joining the running payment when there is one. A payment whose run has
 * closed (after its linger) is run again from where that run ended — its state and the messages it
 * handled — so a late clearing or refund is booked, and a repeat of one it booked changes nothing. */
async function sendWithStart<E extends { event_id: string }>(
  client: Client,
  update: UpdateDefinition<PaymentState, [E]>,
  kind: 'clearing' | 'refund',
  payment: CardPayment,
  event: E,
  options: CardClientOptions,
  summary: string,
): Promise<PaymentState> {
  const send = (carried?: CardCarried) =>
    refusedOr(
      client.workflow.executeUpdateWithStart(update, {
        args: [event],
        updateId: deliveryId(`${kind}:${event.event_id}`),
        startWorkflowOperation: startOperation(payment, options, summary, carried),
      }),
    );
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  let carried: CardCarried;
  try {
    carried = await closedPaymentState(client, payment);
  } catch (err) {
    // The payment could not be read now (a worker or the server restarting): not booked yet.
    if (!(err instanceof QueryNotRegisteredError))
      throw new CardStepFailedError(`payment ${payment.payment_id} has closed and could not be read now: ${(err as Error).message}`);
    // Payments closed before the decider answer no lifecycle query: refused, never guessed.
    throw new CardEventRefusedError(
      `payment ${payment.payment_id} has closed and predates late-message handling; book this ${kind} by hand (${(err as Error).message})`,
    );
  }
  if (carried.view.card_id !== undefined && carried.view.card_id !== payment.card_id) {
    throw new CardEventRefusedError(`payment ${payment.payment_id} is on another card`);
  }
  return send(carried);
}

/** Where a closed payment's last run ended, to start the next one from. */
function closedPaymentState(client: Client, payment: CardPayment): Promise<CardCarried> {
  return client.workflow.getHandle(paymentWorkflowId(payment.payment_id)).query(cardLifecycleQuery);
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
