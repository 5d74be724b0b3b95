// SQL array literals for the posting engine's multi-statement queries. A multi-statement query
// (simple protocol) takes no bind parameters, and the engine needs several statements per round
// trip (BEGIN + locks + reads; writes + COMMIT), so its arrays are written into the SQL text.
//
// Every element is written quoted: inside an array literal an unquoted NULL (in any case) is
// SQL NULL, and `"`, `\`, `{`, `}`, `,` and spaces are syntax. A quoted element is always the
// string itself, so the payment id `null` stays the text 'null'. The literal then sits in a
// standard SQL string ('' for a quote; backslashes are plain characters because every pool sets
// standard_conforming_strings = on, see db.ts). Each element is also checked against the
// pattern of its type, so input that escaped validation is refused before any SQL runs.
import { LedgerInputError } from './errors.js';

/** What each SQL array element type accepts. */
const SQL_ELEMENT_PATTERNS = {
  // Lowercase only: ids are canonical from the boundary in (ledger.ts), so an uppercase one here is a bug.
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  bigint: /^-?\d{1,19}$/,
  int: /^-?\d{1,10}$/,
  'char(3)': /^[A-Z]{3}$/,
  text: /^[\s\S]{0,64}$/,
  result: /^[a-z_]{1,64}$/,
} as const;
export type SqlElementType = keyof typeof SQL_ELEMENT_PATTERNS;

/** Elements in one literal, at most: the engine's batches are bounded well below it. */
const SQL_ARRAY_LENGTH_MAX = 10_000;

/** One element, double-quoted for an array literal: `"` and `\` get a backslash. */
function quoteElement(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** An array literal for SQL text, e.g. '{"a","b",NULL}'::text[]. Only a JS null becomes NULL. */
export function sqlArray(type: SqlElementType, values: ReadonlyArray<string | number | bigint | null>): string {
  if (values.length > SQL_ARRAY_LENGTH_MAX) throw new Error(`sqlArray: ${values.length} elements, over ${SQL_ARRAY_LENGTH_MAX}`);
  const pattern = SQL_ELEMENT_PATTERNS[type];
  const elements = values.map((v) => {
    if (v === null) return 'NULL';
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new LedgerInputError(`not a safe integer for the ledger: ${v}`);
    const text = String(v);
    if (!pattern.test(text)) throw new LedgerInputError(`not a valid ${type} for the ledger: ${JSON.stringify(text).slice(0, 70)}`);
    return quoteElement(text);
  });
  const literal = `{${elements.join(',')}}`.replaceAll("'", "''");
  return `'${literal}'::${type === 'result' ? 'text' : type}[]`;
}

/** One column of rows as an SQL array literal: sqlColumn('uuid', transfers, (t) => t.id). */
export function sqlColumn<T>(type: SqlElementType, rows: readonly T[], pick: (row: T) => string | number | bigint | null): string {
  return sqlArray(type, rows.map(pick));
}
