// The error every ledger entry point throws for input it refuses before writing anything.
export class LedgerInputError extends Error {
  override name = 'LedgerInputError';
}
