// Deterministic ids: the same payment and step always give the same transfer id, so a retried
// activity submits the same id and the ledger answers `exists` instead of posting twice.
import { createHash } from 'node:crypto';

/** Namespace of this platform's UUIDv5 ids (a random v4 fixed once, never to change). */
const PLATFORM_NAMESPACE = '6f1c1a4e-2b7d-4c1e-9a52-3f0f2b8f6d11';

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

/** RFC 9562 UUID version 5 (SHA-1, name-based). */
export function uuidV5(name: string, namespace: string = PLATFORM_NAMESPACE): string {
  const hash = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The transfer id of one step of one payment, e.g. transferId('p-123', 'payout_hold'). */
export function transferId(payment_id: string, step: string): string {
  return uuidV5(`transfer:${payment_id}:${step}`);
}

/** The id of a platform account (one per kind and currency), e.g. settlement bank in USD. */
export function platformAccountId(kind: string, currency: string): string {
  return uuidV5(`platform-account:${kind}:${currency}`);
}

/** The id of a company's credit-line account in a currency. */
export function creditLineAccountId(company_id: string, currency: string): string {
  return uuidV5(`credit-line:${company_id}:${currency}`);
}
