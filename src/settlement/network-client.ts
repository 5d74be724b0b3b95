// The card network's side of settlement: what it records of the clearings and refunds it sent us,
// and the report of a cycle it settles on. Activities depend on the CardNetwork interface;
// `createHttpCardNetwork` talks to the network (or the simulator's /network endpoints) over HTTP.
import { z } from 'zod';
import { AMOUNT_MINOR_MAX, amountMinorSchema, currencySchema } from '../domain/money.js';
import { instantSchema } from '../domain/network-settlement.js';

/** Records accepted in one request. */
export const NETWORK_RECORDS_PER_REQUEST_MAX = 1000;

const signedMinor = z
  .number({ error: 'must be a number of minor units' })
  .int({ error: 'must be an integer number of minor units' })
  .min(-AMOUNT_MINOR_MAX)
  .max(AMOUNT_MINOR_MAX);

/** One message the network sent: a clearing (we owe it), a refund or a chargeback it settles in
 * the issuer's favour (a dispute the issuer won: it owes us). */
export const networkRecordSchema = z.strictObject({
  /** The network's id of the message: the same id is the same record, however often sent. */
  record_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, { error: 'must be 1 to 128 letters, digits, _ . : -' }),
  kind: z.enum(['clearing', 'refund', 'chargeback']),
  currency: currencySchema,
  amount_minor: amountMinorSchema,
  /** When the network sent it: which cycle it settles in. */
  at: instantSchema,
});
export type NetworkRecord = z.infer<typeof networkRecordSchema>;

export const networkRecordsRequestSchema = z.strictObject({
  records: z.array(networkRecordSchema).min(1).max(NETWORK_RECORDS_PER_REQUEST_MAX),
});

export const networkWindowSchema = z
  .strictObject({ currency: currencySchema, window_start: instantSchema, window_end: instantSchema })
  .refine((w) => w.window_start < w.window_end, { error: 'window_start must be before window_end', path: ['window_end'] });
export type NetworkWindow = z.infer<typeof networkWindowSchema>;

/** The network's settlement report of a window: what it will wire (net_minor; negative: it pays). */
export const networkReportSchema = z.strictObject({
  currency: currencySchema,
  window_start: instantSchema,
  window_end: instantSchema,
  cleared_minor: z.number().int().min(0),
  refunded_minor: z.number().int().min(0),
  /** Chargebacks won by the issuer that the network pays in this window. */
  chargeback_minor: z.number().int().min(0),
  /** Anything else the network settles in the window (fees, its own corrections). */
  adjustment_minor: signedMinor,
  net_minor: signedMinor,
  records: z.number().int().min(0),
});
export type NetworkReport = z.infer<typeof networkReportSchema>;

/** A test's lever: the report of the window ending at window_end is off by delta_minor. */
export const networkDiscrepancySchema = z.strictObject({
  currency: currencySchema,
  window_end: instantSchema,
  delta_minor: signedMinor.refine((v) => v !== 0, { error: 'must not be zero' }),
});
export type NetworkDiscrepancy = z.infer<typeof networkDiscrepancySchema>;

/** A dispute's filing with the network, by stage: the chargeback, its escalation to
 * pre-arbitration, its withdrawal, or a lower amount (a refund covered part of it). The same
 * dispute and stage is the same filing (idempotent); an amount change is one filing per amount. */
export const DISPUTE_FILING_STAGES = ['chargeback', 'pre_arbitration', 'withdrawal', 'amount_change'] as const;
/** The simulator's key of a filing: what makes two filings the same one. */
export const disputeFilingKey = (filing: Pick<DisputeFiling, 'dispute_id' | 'stage' | 'amount_minor'>): string =>
  filing.stage === 'amount_change' ? `${filing.dispute_id} amount_change ${filing.amount_minor}` : `${filing.dispute_id} ${filing.stage}`;
export const disputeFilingSchema = z.strictObject({
  dispute_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/, { error: 'must be 1 to 200 letters, digits, _ . : -' }),
  stage: z.enum(DISPUTE_FILING_STAGES),
  payment_id: z.string().min(1).max(128),
  reason: z.string().min(1).max(32),
  currency: currencySchema,
  amount_minor: amountMinorSchema,
});
export type DisputeFiling = z.infer<typeof disputeFilingSchema>;
export const disputeFilingAnswerSchema = z.strictObject({ case_id: z.string().min(1).max(128) });

export interface CardNetwork {
  /** Files a dispute's stage with the network: its case id; NetworkRequestRefusedError when the
   * network will not take it, NetworkUnavailableError on anything transient. */
  fileDispute(filing: DisputeFiling): Promise<{ case_id: string }>;
  /** The network's report of a window; throws NetworkUnavailableError on anything transient. */
  report(window: NetworkWindow): Promise<NetworkReport>;
  /** Tells the network what it sent (whoever plays the network: the simulator's clients). */
  record(records: NetworkRecord[]): Promise<void>;
  /** Makes the network's report of one window disagree with its records (tests). */
  injectDiscrepancy(discrepancy: NetworkDiscrepancy): Promise<void>;
}

export class NetworkUnavailableError extends Error {
  override name = 'NetworkUnavailableError';
}
/** The network refused the request as sent: retrying it cannot help. */
export class NetworkRequestRefusedError extends Error {
  override name = 'NetworkRequestRefusedError';
}

/** Per-request ceiling: a network that does not answer in time is asked again. */
const REQUEST_TIMEOUT_MS_MAX = 10_000;

export function createHttpCardNetwork(baseUrl: string): CardNetwork {
  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const url = new URL(path, baseUrl).toString();
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS_MAX),
      });
    } catch (err) {
      throw new NetworkUnavailableError(`card network unreachable at ${url}: ${(err as Error).message}`);
    }
    const text = await response.text();
    if (response.status >= 500 || response.status === 429) {
      throw new NetworkUnavailableError(`card network answered ${response.status}: ${text.slice(0, 200)}`);
    }
    if (response.status !== 200) throw new NetworkRequestRefusedError(`card network refused (${response.status}): ${text.slice(0, 200)}`);
    return JSON.parse(text) as unknown;
  }

  return {
    async fileDispute(filing) {
      return disputeFilingAnswerSchema.parse(await call('POST', '/network/disputes', disputeFilingSchema.parse(filing)));
    },
    async report(window) {
      const w = networkWindowSchema.parse(window);
      const query = new URLSearchParams({ currency: w.currency, window_start: w.window_start, window_end: w.window_end });
      const report = networkReportSchema.parse(await call('GET', `/network/reports?${query.toString()}`));
      if (report.currency !== w.currency || report.window_start !== w.window_start || report.window_end !== w.window_end) {
        throw new NetworkRequestRefusedError(`card network answered a report of another window: ${JSON.stringify(report)}`);
      }
      return report;
    },
    async record(records) {
      await call('POST', '/network/records', networkRecordsRequestSchema.parse({ records }));
    },
    async injectDiscrepancy(discrepancy) {
      await call('POST', '/network/discrepancies', networkDiscrepancySchema.parse(discrepancy));
    },
  };
}
