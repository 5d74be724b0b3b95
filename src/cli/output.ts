// Output: readable tables by default, one JSON document per command with --json (protobuf's
// canonical JSON for API answers: camelCase names, int64 as strings, as Connect JSON and curl
// show them).
import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';

export type Row = Record<string, string | number | bigint | boolean | null | undefined>;

function cell(value: Row[string]): string {
  if (value === null || value === undefined || value === '') return '-';
  return String(value);
}

/** Columns left-aligned, numbers right-aligned, a rule under the header. */
export function table(rows: Row[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const numeric = columns.map((c) => rows.every((r) => typeof r[c] === 'bigint' || typeof r[c] === 'number'));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** One object as `name  value` lines. */
export function record(row: Row): string {
  const width = Math.max(...Object.keys(row).map((k) => k.length));
  return Object.entries(row)
    .map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`)
    .join('\n');
}

export interface Output {
  json: boolean;
  /** An API answer: its protobuf JSON with --json, else what render returns. */
  message<D extends DescMessage>(schema: D, message: MessageShape<D>, render: () => string): void;
  /** A plain value (keys commands): JSON with --json, else what render returns. */
  value(value: unknown, render: () => string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    message(schema, message, render) {
      process.stdout.write(`${json ? JSON.stringify(toJson(schema, message, { alwaysEmitImplicit: true })) : render()}\n`);
    },
    value(value, render) {
      process.stdout.write(`${json ? JSON.stringify(value) : render()}\n`);
    },
  };
}
