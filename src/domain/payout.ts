// What the payout saga and its activities agree on beyond the request (src/domain/payment.ts):
// the failure types of a send that is neither paid nor rejected, and the patch ids of the payout
// workflow's changes since the settlement callback (test/histories/README.md says when each can
// be deprecated).

/** A send the bank neither paid nor rejected for good, for a reason that is the platform's or the
 * bank's, never the payee's: the workflow flags the payout and sends again (same idempotency key)
 * after a pause; it never compensates on these. */
export const SETTLEMENT_FAILURE_TYPES = {
  /** 401 or 403: the bank does not accept our credentials (expired key, revoked certificate). */
  credentialsRefused: 'SettlementCredentialsRefused',
  /** Any answer the gateway does not know how to read (an unknown status, a body that is neither a
   * settlement nor a rejection): the bank may or may not have paid. */
  unexpectedAnswer: 'SettlementUnexpectedAnswer',
} as const;

/** patched() id: the bank's final answer, from whichever source comes first (the send, its
 * confirmation callback, an ops re-send), ends the wait; a confirmation that arrives while the send
 * is still being retried cancels the send. Sends answered 401/403 or unexpectedly are flagged and
 * repeated after a pause. */
export const PATCH_PAYOUT_FIRST_FINAL_ANSWER = 'payout-first-final-answer';
/** patched() id: once the bank has paid, a failing booking of the settlement is retried and
 * flagged instead of compensated (the posting stays). */
export const PATCH_PAYOUT_PAID_NEVER_COMPENSATED = 'payout-paid-never-compensated';
