// Deterministic ids: the same payment and step always give the same transfer id, so a retried
// activity submits the same id and the ledger answers `exists` instead of posting twice.
//
// Canonical transfer ids. A transfer id is UUIDv5 of a name `transfer:<payment>:<step>[:<key>]`.
// Until now the name was plain concatenation, which is ambiguous: a payment id or event id may
// itself contain ':' (and the workflows' event ids always do, `clearing:<network id>`), so two
// different (payment, step) pairs could spell the same name, e.g. the hold of increment
// `e1:overlimit` and the over-limit hold of increment `e1`. Names are now unambiguous, and stay
// byte-for-byte what they were for every pair that was already unambiguous:
//
// - <step> comes from a closed list of step names (TRANSFER_STEPS), none containing ':'.
// - <payment> is written as is, unless one of its ':'-separated segments after the first is a
//   step name (only then could the name be read with a shorter payment id); such a payment id is
//   escaped ('%' -> '%25', ':' -> '%3A'), which leaves no ':' in it. A payment id never contains
//   '%' (paymentIdSchema), so an escaped one is recognisable by its '%'. Reading a name: the
//   payment id is the first segment if it holds a '%', else everything up to the first step name
//   after the first segment; the step follows; the key is the rest.
// - A card hold's <key> (holdKey) is its event id, plus `:kept` or `:overlimit` for the hold that
//   replaces part of another. An event id that itself ends in `:kept` or `:overlimit` is escaped
//   the same way, so a key ending in one of those suffixes always carries one.
//
// Why this is safe for payments in flight across the deploy: a retried step derives the id of its
// first attempt unless its pair was ambiguous before (a payment id with a step name as a segment,
// or an event id ending in `:kept`/`:overlimit`). Those pairs could already collide with another
// payment's or event's transfer; for every other pair the name, hence the id, is unchanged
// (test/unit/transfer-ids.test.ts checks this against the old derivation). Hold keys are stored
// in workflow state (HoldRef.key) and passed back verbatim, so holds created before the deploy
// keep resolving to the ids they were posted under.
import { createHash } from 'node:crypto';

/** Namespace of this platform's UUIDv5 ids (a random v4 fixed once, never to change). */
const PLATFORM_NAMESPACE = '6f1c1a4e-2b7d-4c1e-9a52-3f0f2b8f6d11';

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

/** RFC 9562 UUID version 5 (SHA-1, name-based). Lowercase, as every UUID inside the ledger. */
export function uuidV5(name: string, namespace: string = PLATFORM_NAMESPACE): string {
  const hash = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Every step a transfer id may be derived for. Adding one is safe only if no payment id segment
 * in flight equals it; a new name that is not a word used in ids (an event kind, `kept`) is. */
export const TRANSFER_STEPS = [
  'payout_hold',
  'payout_posting',
  'payout_hold_release',
  'payout_reversal',
  'payout_settlement',
  'card_hold',
  'card_hold_release',
  'card_clearing',
  'card_clearing_excess',
  'card_clearing_overlimit',
  'card_refund',
  'grant',
  'wire',
  'chargeback_settlement',
  'spend_limit_use',
  'spend_limit_release',
  'spend_limit_post',
  'spend_limit_probe',
  'spend_limit_probe_void',
  'billing_repayment',
  'billing_repayment_return',
  'billing_late_fee',
  'dispute_slot_grant',
  'dispute_allowance_grant',
  'dispute_refund_use',
  'dispute_refund_use_late',
  'dispute_slot_hold',
  'dispute_allowance_use',
  'dispute_provisional_credit',
  'dispute_credit_reversal',
  'dispute_credit_reversal_overlimit',
  'dispute_allowance_release',
  'dispute_slot_release',
  'dispute_won',
  'dispute_reduction',
  'dispute_reduction_overlimit',
  'dispute_reduction_release',
] as const;
export type TransferStep = (typeof TRANSFER_STEPS)[number];
const STEP_NAMES: ReadonlySet<string> = new Set(TRANSFER_STEPS);

/** The suffixes of a hold that replaces part of another (holdKey). */
export type HoldSuffix = 'kept' | 'overlimit';
const HOLD_SUFFIXES: readonly HoldSuffix[] = ['kept', 'overlimit'];

function escapePart(part: string): string {
  return part.replaceAll('%', '%25').replaceAll(':', '%3A');
}

function paymentPart(payment_id: string): string {
  const segments = payment_id.split(':');
  const ambiguous = payment_id.includes('%') || segments.slice(1).some((s) => STEP_NAMES.has(s));
  return ambiguous ? escapePart(payment_id) : payment_id;
}

/** The key of a card hold: its event id, and `kept`/`overlimit` for a hold that replaces part of
 * another or sits on the over-limit receivable. Stored in workflow state; pass it back as is. */
export function holdKey(event_id: string, suffix?: HoldSuffix): string {
  if (event_id.length === 0) throw new Error('holdKey: event_id is empty');
  const ambiguous = event_id.includes('%') || HOLD_SUFFIXES.some((s) => event_id.endsWith(`:${s}`));
  const event = ambiguous ? escapePart(event_id) : event_id;
  return suffix === undefined ? event : `${event}:${suffix}`;
}

/** The transfer id of one step of one payment, e.g. transferId('p-123', 'payout_hold'), or
 * transferId(p, 'card_clearing', event_id) for a step taken once per event. */
export function transferId(payment_id: string, step: TransferStep, key?: string): string {
  if (payment_id.length === 0) throw new Error('transferId: payment_id is empty');
  if (!STEP_NAMES.has(step)) throw new Error(`transferId: unknown step ${JSON.stringify(step)}`);
  if (key !== undefined && key.length === 0) throw new Error('transferId: key is empty');
  const name = `transfer:${paymentPart(payment_id)}:${step}${key === undefined ? '' : `:${key}`}`;
  return uuidV5(name);
}

/** The id of a platform account (one per kind and currency), e.g. settlement bank in USD. */
export function platformAccountId(kind: string, currency: string): string {
  return uuidV5(`platform-account:${kind}:${currency}`);
}

/** The per-payment accounts of disputes: what is still disputable, and the one-open-dispute slot. */
export function paymentDisputableAccountId(payment_id: string): string {
  return uuidV5(`payment-disputable:${payment_id}`);
}
export function paymentDisputeSlotAccountId(payment_id: string): string {
  return uuidV5(`payment-dispute-slot:${payment_id}`);
}

/** The id of a company's credit-line account in a currency. */
export function creditLineAccountId(company_id: string, currency: string): string {
  return uuidV5(`credit-line:${company_id}:${currency}`);
}

/** The ledger account of one spend limit's window, e.g. card c-1's USD day amount limit on
 * 2026-12-02. The scope id is escaped (it may hold ':'), so two limits never share a name. */
export function spendLimitAccountId(scope: string, scope_id: string, currency: string, limit_key: string, window_label: string): string {
  return uuidV5(`spend-limit:${scope}:${escapePart(scope_id)}:${currency}:${limit_key}:${window_label}`);
}

/** The account that grants a scope's spend-limit windows their headroom (one per measure). */
export function spendLimitSourceId(scope: string, scope_id: string, currency: string, measure: string): string {
  return uuidV5(`spend-limit-source:${scope}:${escapePart(scope_id)}:${currency}:${measure}`);
}

/** The id of a company's billing receivable in a currency (AccountCode.company_billing_receivable). */
export function billingReceivableAccountId(company_id: string, currency: string): string {
  return uuidV5(`billing-receivable:${company_id}:${currency}`);
}
