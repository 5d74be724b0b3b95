// One rendering of a validation failure everywhere: "<where>.<field>: <rule>".
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';

/** The first issue of a zod error, as `<prefix><field path>: <message>`. */
export function describeIssue(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  if (!issue) return `${prefix || 'input'}: invalid`;
  const path = issue.path.join('.');
  return `${prefix}${path || (prefix ? '(item)' : 'input')}: ${issue.message}`;
}

/** Parses a message inside Temporal code (workflow, update, activity): a malformed one is refused
 * with a non-retryable InvalidPayment failure that names the field and the rule, since no retry can
 * make it valid. */
export function parseOrFail<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssue(parsed.error, `${what} `), 'InvalidPayment');
  return parsed.data;
}
