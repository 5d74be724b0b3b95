// Billing (issue 15): a company's billing cycle, its statements, repayment and dunning. The
// messages and the pure lifecycle of one statement (decide/evolve), shared by the billing workflow,
// its activities and the API. Imported by workflow code: no I/O and no clock here.
import { z } from 'zod';
import { AMOUNT_MINOR_MAX, amountMinorSchema, currencySchema, type Currency } from './money.js';
import { DAY_MS, instantSchema } from './network-settlement.js';
import { paymentIdSchema } from './payment.js';

// ---------------------------------------------------------------------------------------------
// Policy and cycles

/** Longest due-date offset and grace period accepted. */
export const BILLING_OFFSET_MS_MAX = 90 * DAY_MS;
/** Shortest fixed cycle: seconds, for the demo and the tests. */
export const BILLING_CYCLE_MS_MIN = 1_000;
export const BILLING_CYCLE_MS_MAX = 366 * DAY_MS;
/** Collected debits remembered for a possible return, at most (older ones can no longer be returned). */
export const COLLECTED_DEBITS_MAX = 12;

const bankAccountSchema = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9]{4,34}$/, { error: 'must be 4 to 34 letters and digits (an IBAN or account number)' });

export const directDebitMandateSchema = z.strictObject({
  debtor_name: z.string({ error: 'must be a string' }).min(1).max(140),
  bank_account: bankAccountSchema,
});
export type DirectDebitMandate = z.infer<typeof directDebitMandateSchema>;

export const billingCycleSchema = z.discriminatedUnion(
  'kind',
  [
    /** Closes at 00:00 UTC on `closing_day` of every month (1..28, so every month has it). */
    z.strictObject({ kind: z.literal('monthly'), closing_day: z.number().int().min(1).max(28) }),
    /** Closes every `length_ms` after the billing start (the demo and tests: seconds). */
    z.strictObject({ kind: z.literal('fixed'), length_ms: z.number().int().min(BILLING_CYCLE_MS_MIN).max(BILLING_CYCLE_MS_MAX) }),
  ],
  { error: 'must be {"kind":"monthly","closing_day":1..28} or {"kind":"fixed","length_ms":...}' },
);
export type BillingCycle = z.infer<typeof billingCycleSchema>;

const offsetMs = z.number({ error: 'must be a number of milliseconds' }).int().min(0).max(BILLING_OFFSET_MS_MAX);

export const billingPolicySchema = z
  .strictObject({
    cycle: billingCycleSchema.default({ kind: 'monthly', closing_day: 1 }),
    /** The due date is this long after the close. */
    due_after_ms: offsetMs.default(21 * DAY_MS),
    /** A statement whose minimum is still unpaid this long after its due date is past due. */
    grace_ms: offsetMs.default(3 * DAY_MS),
    /** Charged once per past-due statement; 0: no fee. */
    late_fee_minor: z.number().int().min(0).max(AMOUNT_MINOR_MAX).default(2_500),
    /** Minimum due: this share of the closing balance (100: the whole balance, a charge card). */
    minimum_due_percent: z.number().int().min(1).max(100).default(100),
    /** ... but at least this much (never more than the closing balance). */
    minimum_due_floor_minor: z.number().int().min(0).max(AMOUNT_MINOR_MAX).default(0),
    /** The statement's cut-off lag (src/ledger/cutoff.ts): it is computed this long after its close. */
    cutoff_lag_ms: z
      .number()
      .int()
      .min(0)
      .max(DAY_MS)
      .default(5 * 60_000),
    /** The company's direct-debit mandate; null: it pays by bank transfer (RecordRepayment) only. */
    direct_debit: directDebitMandateSchema.nullable().default(null),
  })
  .refine((p) => p.due_after_ms + p.grace_ms + p.cutoff_lag_ms < cycleLengthMinMs(p.cycle), {
    error:
      'due_after_ms + grace_ms + cutoff_lag_ms must be shorter than the cycle (a statement is due and past due before the next closes)',
    path: ['due_after_ms'],
  });
export type BillingPolicy = z.output<typeof billingPolicySchema>;
export type BillingPolicyInput = z.input<typeof billingPolicySchema>;

/** The shortest a cycle of this kind can be (a monthly one: February's 28 days). */
function cycleLengthMinMs(cycle: BillingCycle): number {
  return cycle.kind === 'fixed' ? cycle.length_ms : 28 * DAY_MS;
}

/** When cycle `cycle_number` (1-based) closes: its statement's cut-off. Pure: the workflow calls it. */
export function cycleEndMs(cycle: BillingCycle, billing_start_ms: number, cycle_number: number): number {
  if (!(Number.isSafeInteger(cycle_number) && cycle_number >= 1)) throw new Error(`cycle_number must be >= 1, got ${cycle_number}`);
  if (cycle.kind === 'fixed') return billing_start_ms + cycle_number * cycle.length_ms;
  // The cycle_number-th closing day (00:00 UTC) strictly after the start.
  const start = new Date(billing_start_ms);
  let year = start.getUTCFullYear();
  let month = start.getUTCMonth();
  if (Date.UTC(year, month, cycle.closing_day) <= billing_start_ms) month += 1;
  month += cycle_number - 1;
  year += Math.floor(month / 12);
  month %= 12;
  return Date.UTC(year, month, cycle.closing_day);
}

/** The minimum due of a closing balance: a share of it, at least the floor, at most all of it. */
export function minimumDueMinor(
  closing_balance_minor: number,
  policy: Pick<BillingPolicy, 'minimum_due_percent' | 'minimum_due_floor_minor'>,
): number {
  if (closing_balance_minor <= 0) return 0;
  const closing = BigInt(closing_balance_minor);
  const percent = BigInt(policy.minimum_due_percent);
  const share = (closing * percent + 99n) / 100n; // rounded up: never less than the share
  const floor = BigInt(policy.minimum_due_floor_minor);
  const due = share > floor ? share : floor;
  return Number(due < closing ? due : closing);
}

// ---------------------------------------------------------------------------------------------
// Identifiers

export const billingWorkflowId = (company_id: string, currency: Currency) => `billing-${company_id}-${currency}`;

/** A statement is named `<company>/<currency>/<cycle number>` ('/' is in no company id). */
export const statementIdOf = (company_id: string, currency: Currency, cycle_number: number) => `${company_id}/${currency}/${cycle_number}`;

export const statementIdSchema = z
  .string({ error: 'must be a string' })
  .max(80)
  .transform((id, ctx) => {
    const [company_id, currency, cycle, ...rest] = id.split('/');
    const company = paymentIdSchema.safeParse(company_id);
    const cur = currencySchema.safeParse(currency);
    const n = Number(cycle);
    if (rest.length > 0 || !company.success || !cur.success || !/^[1-9][0-9]{0,8}$/.test(cycle ?? '')) {
      ctx.addIssue({ code: 'custom', message: 'must be <company id>/<currency>/<cycle number>, e.g. acme/USD/3' });
      return z.NEVER;
    }
    return { company_id: company.data, currency: cur.data, cycle_number: n };
  });
export type StatementKey = { company_id: string; currency: Currency; cycle_number: number };

/** Direct debits are collected with the idempotency key `debit:<statement id>`: the bank's
 * callback names the statement (and so the billing workflow) by it. */
export const DEBIT_KEY_PREFIX = 'debit:';
export const debitIdempotencyKey = (key: StatementKey) =>
  `${DEBIT_KEY_PREFIX}${statementIdOf(key.company_id, key.currency, key.cycle_number)}`;
export const debitKeySchema = z
  .string({ error: 'must be a string' })
  .startsWith(DEBIT_KEY_PREFIX, { error: `must be ${DEBIT_KEY_PREFIX}<statement id>` })
  .transform((key) => key.slice(DEBIT_KEY_PREFIX.length))
  .pipe(statementIdSchema);

/** A repayment's idempotency key (RecordRepayment): the same key records one repayment. */
export const repaymentKeySchema = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, { error: 'must be 1 to 64 letters, digits, _ . : - (starting with a letter or digit)' });

// ---------------------------------------------------------------------------------------------
// Statements

export interface Statement {
  statement_id: string;
  company_id: string;
  currency: Currency;
  cycle_number: number;
  credit_line_account_id: string;
  receivable_account_id: string;
  window_start: string;
  window_end: string;
  opening_balance_minor: number;
  card_charges_minor: number;
  refunds_minor: number;
  payouts_minor: number;
  fees_minor: number;
  repayments_minor: number;
  returned_repayments_minor: number;
  other_minor: number;
  closing_balance_minor: number;
  minimum_due_minor: number;
  due_at: string;
  transfers: number;
  created_at: string;
}

export const STATEMENT_STATUSES = ['OPEN', 'PAID', 'MINIMUM_PAID', 'PAST_DUE', 'CARRIED_OVER'] as const;
export type StatementStatus = (typeof STATEMENT_STATUSES)[number];

/** A statement and where it stands (its latest event). */
export interface StatementView extends Statement {
  status: StatementStatus;
  paid_minor: number;
  events: StatementEventRecord[];
}

export interface StatementEventRecord {
  seq: number;
  type: BillingEventType;
  status: StatementStatus;
  paid_minor: number;
  detail: string;
  at: string;
}

export const closeStatementRequestSchema = z.strictObject({
  company_id: paymentIdSchema,
  currency: currencySchema,
  cycle_number: z.number().int().min(1).max(999_999_999),
  /** The first cycle's window start (the billing start); later ones start at the previous end. */
  billing_start: instantSchema,
  window_end: instantSchema,
  lag_ms: z.number().int().min(0).max(DAY_MS),
  due_at: instantSchema,
  minimum_due_percent: z.number().int().min(1).max(100),
  minimum_due_floor_minor: z.number().int().min(0).max(AMOUNT_MINOR_MAX),
});
export type CloseStatementRequest = z.infer<typeof closeStatementRequestSchema>;

// ---------------------------------------------------------------------------------------------
// The workflow's input and messages

export const collectedDebitSchema = z.strictObject({ cycle_number: z.number().int().min(1), amount_minor: amountMinorSchema });

export const billingInputSchema = z.strictObject({
  company_id: paymentIdSchema,
  currency: currencySchema,
  policy: billingPolicySchema,
  /** The first cycle's window start; cycles close on the policy's grid from here. */
  billing_start: instantSchema,
  cycle_number: z.number().int().min(1).max(999_999_999).default(1),
  /** What a run hands the next (continue-as-new): the freeze, and debits that may still be returned. */
  carried: z
    .strictObject({
      frozen: z.boolean(),
      collected_debits: z.array(collectedDebitSchema).max(COLLECTED_DEBITS_MAX),
    })
    .default({ frozen: false, collected_debits: [] }),
});
export type BillingInput = z.input<typeof billingInputSchema>;
export type BillingRun = z.output<typeof billingInputSchema>;

/** What the bank says of a direct debit: sent by the settlement callback receiver. */
export const directDebitAnswerSchema = z.discriminatedUnion('status', [
  z.strictObject({ status: z.literal('collected'), bank_reference: z.string().min(1).max(128) }),
  z.strictObject({ status: z.literal('failed'), reason: z.string().min(1).max(200) }),
  /** A debit collected earlier was reversed by the company's bank. */
  z.strictObject({ status: z.literal('returned'), reason: z.string().min(1).max(200) }),
]);
export type DirectDebitAnswer = z.infer<typeof directDebitAnswerSchema>;

/** The callback body for a direct debit; parsed, `idempotency_key` becomes the statement key. */
export const directDebitCallbackSchema = z.discriminatedUnion('status', [
  directDebitAnswerSchema.options[0].extend({ idempotency_key: debitKeySchema }),
  directDebitAnswerSchema.options[1].extend({ idempotency_key: debitKeySchema }),
  directDebitAnswerSchema.options[2].extend({ idempotency_key: debitKeySchema }),
]);
export type DirectDebitCallback = z.input<typeof directDebitCallbackSchema>;

export const recordRepaymentSchema = z.strictObject({
  idempotency_key: repaymentKeySchema,
  amount_minor: amountMinorSchema,
});
export type RecordRepayment = z.infer<typeof recordRepaymentSchema>;

export interface RepaymentReceipt {
  idempotency_key: string;
  amount_minor: number;
  /** false: this key had been recorded before (nothing new written). */
  created: boolean;
  transfer_id: string;
  /** The current statement's paid amount and status after it. */
  statement: { statement_id: string; status: StatementStatus; paid_minor: number } | null;
}

// ---------------------------------------------------------------------------------------------
// The lifecycle of one statement: decide(state, command) -> events; evolve(state, event) -> state.

export const BILLING_EVENT_TYPES = [
  'statement.closed',
  'statement.debit_requested',
  'statement.debit_collected',
  'statement.debit_failed',
  'statement.debit_returned',
  'statement.payment_received',
  'statement.paid',
  'statement.minimum_paid',
  'statement.grace_ended',
  'statement.reminder',
  'statement.past_due',
  'statement.cards_frozen',
  'statement.late_fee_charged',
  'statement.cards_unfrozen',
  'statement.carried_over',
] as const;
export type BillingEventType = (typeof BILLING_EVENT_TYPES)[number];

export interface StatementFigures {
  cycle_number: number;
  closing_balance_minor: number;
  minimum_due_minor: number;
}

export interface StatementState {
  statement: StatementFigures | null;
  status: StatementStatus | null;
  /** Repaid since the close (net of returned debits), from the ledger. */
  paid_minor: number;
  grace_over: boolean;
  /** The company's cards are frozen by dunning (carried from statement to statement). */
  frozen: boolean;
  late_fee_charged: boolean;
  debit: 'none' | 'requested' | 'collected' | 'failed' | 'returned';
}

export type StatementCommand =
  | { type: 'close'; statement: StatementFigures }
  | { type: 'due'; has_mandate: boolean }
  | { type: 'debit_answered'; answer: DirectDebitAnswer; amount_minor: number }
  | { type: 'payments'; paid_minor: number }
  | { type: 'grace_over'; late_fee_minor: number }
  | { type: 'roll_over' };

export type StatementEvent =
  | { type: 'statement.closed'; statement: StatementFigures }
  | { type: 'statement.debit_requested'; amount_minor: number }
  | { type: 'statement.debit_collected'; amount_minor: number; bank_reference: string }
  | { type: 'statement.debit_failed'; reason: string }
  | { type: 'statement.debit_returned'; amount_minor: number; reason: string }
  | { type: 'statement.payment_received'; paid_minor: number }
  | { type: 'statement.paid' }
  | { type: 'statement.minimum_paid' }
  | { type: 'statement.grace_ended' }
  | { type: 'statement.reminder'; remaining_minor: number }
  | { type: 'statement.past_due' }
  | { type: 'statement.cards_frozen' }
  | { type: 'statement.late_fee_charged'; amount_minor: number }
  | { type: 'statement.cards_unfrozen' }
  | { type: 'statement.carried_over' };

export function initialStatementState(carried: { frozen: boolean }): StatementState {
  return {
    statement: null,
    status: null,
    paid_minor: 0,
    grace_over: false,
    frozen: carried.frozen,
    late_fee_charged: false,
    debit: 'none',
  };
}

export class StatementCommandRefused extends Error {
  override name = 'StatementCommandRefused';
}

/** What a paid amount means for the statement's status, freeze included. */
function settle(state: StatementState, paid_minor: number): StatementEvent[] {
  const s = state.statement!;
  const events: StatementEvent[] = [];
  if (paid_minor >= s.closing_balance_minor) {
    if (state.status !== 'PAID') events.push({ type: 'statement.paid' });
    if (state.frozen) events.push({ type: 'statement.cards_unfrozen' });
  } else if (paid_minor >= s.minimum_due_minor) {
    if (state.status !== 'MINIMUM_PAID') events.push({ type: 'statement.minimum_paid' });
    if (state.frozen) events.push({ type: 'statement.cards_unfrozen' });
  } else if (state.grace_over && state.status !== 'PAST_DUE') {
    // A returned debit after the grace period: past due again, frozen again (no second fee).
    events.push({ type: 'statement.past_due' });
    if (!state.frozen) events.push({ type: 'statement.cards_frozen' });
  }
  return events;
}

export function decideStatement(state: StatementState, command: StatementCommand): StatementEvent[] {
  if (command.type === 'close') {
    if (state.statement) throw new StatementCommandRefused(`statement ${state.statement.cycle_number} is already closed`);
    const s = command.statement;
    if (!(
      Number.isSafeInteger(s.minimum_due_minor) &&
      s.minimum_due_minor >= 0 &&
      s.minimum_due_minor <= Math.max(s.closing_balance_minor, 0)
    )) {
      throw new StatementCommandRefused(`minimum due ${s.minimum_due_minor} is not within 0..closing balance ${s.closing_balance_minor}`);
    }
    const closed: StatementState = evolveStatement(state, { type: 'statement.closed', statement: s });
    return [{ type: 'statement.closed', statement: s }, ...settle(closed, 0)];
  }
  const s = state.statement;
  if (!s) throw new StatementCommandRefused(`${command.type}: no statement is closed yet`);
  switch (command.type) {
    case 'due': {
      const remaining = s.closing_balance_minor - state.paid_minor;
      if (!command.has_mandate || remaining <= 0 || state.debit !== 'none') return [];
      return [{ type: 'statement.debit_requested', amount_minor: remaining }];
    }
    case 'debit_answered': {
      const { answer } = command;
      if (answer.status === 'collected') {
        if (state.debit !== 'requested') return []; // a repeated callback
        return [{ type: 'statement.debit_collected', amount_minor: command.amount_minor, bank_reference: answer.bank_reference }];
      }
      if (answer.status === 'failed') {
        if (state.debit !== 'requested') return [];
        return [{ type: 'statement.debit_failed', reason: answer.reason }];
      }
      if (state.debit !== 'collected') return []; // nothing collected to return (or returned already)
      return [{ type: 'statement.debit_returned', amount_minor: command.amount_minor, reason: answer.reason }];
    }
    case 'payments': {
      if (!(Number.isSafeInteger(command.paid_minor) && Math.abs(command.paid_minor) <= AMOUNT_MINOR_MAX)) {
        throw new StatementCommandRefused(`paid_minor must be a safe integer, got ${command.paid_minor}`);
      }
      if (state.status === 'CARRIED_OVER') return [];
      const moved: StatementEvent[] =
        command.paid_minor === state.paid_minor ? [] : [{ type: 'statement.payment_received', paid_minor: command.paid_minor }];
      const next = moved.reduce(evolveStatement, state);
      return [...moved, ...settle(next, command.paid_minor)];
    }
    case 'grace_over': {
      if (state.grace_over || state.status === 'CARRIED_OVER') return [];
      const remaining = s.minimum_due_minor - state.paid_minor;
      if (remaining <= 0) return [{ type: 'statement.grace_ended' }];
      const events: StatementEvent[] = [
        { type: 'statement.grace_ended' },
        { type: 'statement.reminder', remaining_minor: remaining },
        { type: 'statement.past_due' },
      ];
      if (!state.frozen) events.push({ type: 'statement.cards_frozen' });
      if (command.late_fee_minor > 0 && !state.late_fee_charged)
        events.push({ type: 'statement.late_fee_charged', amount_minor: command.late_fee_minor });
      return events;
    }
    case 'roll_over':
      return state.status === 'PAID' || state.status === 'MINIMUM_PAID' || state.status === 'CARRIED_OVER'
        ? []
        : [{ type: 'statement.carried_over' }];
  }
}

export function evolveStatement(state: StatementState, event: StatementEvent): StatementState {
  switch (event.type) {
    case 'statement.closed':
      return {
        ...state,
        statement: event.statement,
        status: 'OPEN',
        paid_minor: 0,
        grace_over: false,
        late_fee_charged: false,
        debit: 'none',
      };
    case 'statement.debit_requested':
      return { ...state, debit: 'requested' };
    case 'statement.debit_collected':
      return { ...state, debit: 'collected' };
    case 'statement.debit_failed':
      return { ...state, debit: 'failed' };
    case 'statement.debit_returned':
      return { ...state, debit: 'returned' };
    case 'statement.payment_received': {
      // Paid before, less now (a returned debit) and not yet past the grace period: open again.
      const reopened = state.status === 'PAID' || state.status === 'MINIMUM_PAID';
      const below =
        state.statement !== null &&
        event.paid_minor < (state.status === 'PAID' ? state.statement.closing_balance_minor : state.statement.minimum_due_minor);
      return { ...state, paid_minor: event.paid_minor, status: reopened && below && !state.grace_over ? 'OPEN' : state.status };
    }
    case 'statement.paid':
      return { ...state, status: 'PAID' };
    case 'statement.minimum_paid':
      return { ...state, status: 'MINIMUM_PAID' };
    case 'statement.grace_ended':
      return { ...state, grace_over: true };
    case 'statement.reminder':
      return state;
    case 'statement.past_due':
      return { ...state, status: 'PAST_DUE', grace_over: true };
    case 'statement.cards_frozen':
      return { ...state, frozen: true };
    case 'statement.late_fee_charged':
      return { ...state, late_fee_charged: true };
    case 'statement.cards_unfrozen':
      return { ...state, frozen: false };
    case 'statement.carried_over':
      return { ...state, status: 'CARRIED_OVER' };
  }
}

/** One line for the timeline and the event record. */
export function describeStatementEvent(event: StatementEvent): string {
  switch (event.type) {
    case 'statement.closed':
      return `closing balance ${event.statement.closing_balance_minor}, minimum due ${event.statement.minimum_due_minor}`;
    case 'statement.debit_requested':
    case 'statement.late_fee_charged':
      return `${event.amount_minor}`;
    case 'statement.debit_collected':
      return `${event.amount_minor} (${event.bank_reference})`;
    case 'statement.debit_failed':
      return event.reason;
    case 'statement.debit_returned':
      return `${event.amount_minor}: ${event.reason}`;
    case 'statement.payment_received':
      return `paid ${event.paid_minor}`;
    case 'statement.reminder':
      return `${event.remaining_minor} of the minimum still due`;
    default:
      return '';
  }
}
