// Operator actions on running payments (Web UI / CLI): who did it and why, validated with zod at
// every boundary (client, update validator). Imported by workflow code, so no I/O here.
import { z } from 'zod';

export const OPERATOR_LENGTH_MAX = 64;
export const OPS_REASON_LENGTH_MAX = 500;

/** Who acted: a login or a service name, in a safe, bounded alphabet (it lands in the timeline,
 * the logs and the UI). */
export const operatorSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(OPERATOR_LENGTH_MAX, { error: `must be at most ${OPERATOR_LENGTH_MAX} characters` })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.@+-]*$/, {
    error: 'must start with a letter or digit and contain only letters, digits, _ . @ + -',
  });

/** Why: free text for the next person who reads the payment. Control characters are refused. */
export const opsReasonSchema = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, { error: 'must not be empty' })
  .max(OPS_REASON_LENGTH_MAX, { error: `must be at most ${OPS_REASON_LENGTH_MAX} characters` })
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, { error: 'must not contain control characters (new lines included)' });

/** The argument of every ops update. */
export const opsActionSchema = z.strictObject({ operator: operatorSchema, reason: opsReasonSchema });
export type OpsAction = z.infer<typeof opsActionSchema>;

/** The ops updates, by their CLI names; the timeline event of each is `ops_<action>`. */
export const OPS_ACTIONS = {
  retrySettlement: 'retry_settlement',
  voidHold: 'void_hold',
  resolveAttention: 'resolve_attention',
} as const;
export type OpsActionName = keyof typeof OPS_ACTIONS;

/** Failure type of an ops update refused by its validator (bad input, or not applicable). */
export const OPS_REFUSED = 'OpsActionRefused';
