// One rendering of a validation failure everywhere: "<where>.<field>: <rule>".
import type { z } from 'zod';

/** The first issue of a zod error, as `<prefix><field path>: <message>`. */
export function describeIssue(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  if (!issue) return `${prefix || 'input'}: invalid`;
  const path = issue.path.join('.');
  return `${prefix}${path || (prefix ? '(item)' : 'input')}: ${issue.message}`;
}
