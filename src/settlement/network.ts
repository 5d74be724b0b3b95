// The card network, simulated: its own record of the clearings and refunds it sent and of the
// chargebacks it settles for the issuer (disputes the issuer won), and the settlement report it
// derives from them. Mounted on the settlement simulator's HTTP server:
//   POST /network/records        {records: [...]}  whoever plays the network says what it sent
//   GET  /network/reports?currency=&window_start=&window_end=   the report of a window
//   POST /network/discrepancies  {currency, window_end, delta_minor}  the report of that window is
//                                off by delta_minor (a short or long wire, for tests)
//   POST /network/disputes       {dispute_id, stage, ...}  files a dispute's stage: its case id (the
//                                same filing answers the same id); a dispute whose reason is not
//                                one the network knows, or that files the same stage with other
//                                fields, is refused (422); an `amount_change` (the chargeback is
//                                now for amount_minor) needs a chargeback filed for more
// A record counts in a window when its `at` lies in [window_start, window_end). Reports are pure
// functions of the records and discrepancies, so asking twice gives the same answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeIssue } from '../domain/validation.js';
import {
  disputeFilingKey,
  disputeFilingSchema,
  networkDiscrepancySchema,
  networkRecordsRequestSchema,
  networkWindowSchema,
  type NetworkRecord,
  type NetworkReport,
} from './network-client.js';

/** Records the network keeps; beyond it new ones are refused (507), never silently dropped. */
export const NETWORK_RECORDS_MAX = 1_000_000;
/** Dispute filings kept; beyond it new ones are refused (507). */
export const NETWORK_DISPUTE_FILINGS_MAX = 100_000;
/** Chargeback reasons the simulated network takes (the platform's; any other is refused). */
const NETWORK_DISPUTE_REASONS = new Set(['fraudulent', 'not_received', 'duplicate', 'canceled', 'other']);
/** Discrepancies kept (tests inject a handful). */
const DISCREPANCIES_MAX = 10_000;
/** Largest request body accepted, in bytes (a full batch of records fits). */
const REQUEST_BYTES_MAX = 512 * 1024;

export interface NetworkSimulator {
  records: Map<string, NetworkRecord>;
  /** `${currency} ${window_end}` -> delta_minor */
  discrepancies: Map<string, number>;
  /** `${dispute_id} ${stage}` -> the filing (its JSON) */
  disputeFilings: Map<string, string>;
  report(currency: string, window_start: string, window_end: string): NetworkReport;
  /** Serves the request when it is one of the /network endpoints; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > REQUEST_BYTES_MAX) throw new Error(`request body over ${REQUEST_BYTES_MAX} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sameRecord(a: NetworkRecord, b: NetworkRecord): boolean {
  return a.kind === b.kind && a.currency === b.currency && a.amount_minor === b.amount_minor && a.at === b.at;
}

export function createNetworkSimulator(): NetworkSimulator {
  const records = new Map<string, NetworkRecord>();
  const discrepancies = new Map<string, number>();
  const disputeFilings = new Map<string, string>();

  function report(currency: string, window_start: string, window_end: string): NetworkReport {
    const w = networkWindowSchema.parse({ currency, window_start, window_end });
    let cleared_minor = 0;
    let refunded_minor = 0;
    let chargeback_minor = 0;
    let count = 0;
    // Bounded by NETWORK_RECORDS_MAX.
    for (const r of records.values()) {
      if (r.currency !== w.currency || r.at < w.window_start || r.at >= w.window_end) continue;
      if (r.kind === 'clearing') cleared_minor += r.amount_minor;
      else if (r.kind === 'refund') refunded_minor += r.amount_minor;
      else chargeback_minor += r.amount_minor;
      count += 1;
    }
    const adjustment_minor = discrepancies.get(`${w.currency} ${w.window_end}`) ?? 0;
    return {
      ...w,
      cleared_minor,
      refunded_minor,
      chargeback_minor,
      adjustment_minor,
      net_minor: cleared_minor - refunded_minor - chargeback_minor + adjustment_minor,
      records: count,
    };
  }

  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://simulator');
    if (!url.pathname.startsWith('/network/')) return false;
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/network/reports') {
      const parsed = networkWindowSchema.safeParse(Object.fromEntries(url.searchParams));
      if (!parsed.success) reply(400, { error: describeIssue(parsed.error) });
      else reply(200, report(parsed.data.currency, parsed.data.window_start, parsed.data.window_end));
      return true;
    }
    const path = url.pathname;
    if (req.method !== 'POST' || (path !== '/network/records' && path !== '/network/discrepancies' && path !== '/network/disputes')) {
      reply(404, { error: 'not found' });
      return true;
    }
    void (async () => {
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch (err) {
        return reply(400, { error: `body: ${(err as Error).message}` });
      }
      if (path === '/network/disputes') {
        const parsed = disputeFilingSchema.safeParse(json);
        if (!parsed.success) return reply(400, { error: describeIssue(parsed.error) });
        const filing = parsed.data;
        if (!NETWORK_DISPUTE_REASONS.has(filing.reason)) return reply(422, { error: `reason ${filing.reason} is not a chargeback reason` });
        const key = disputeFilingKey(filing);
        if (filing.stage === 'amount_change') {
          const chargeback = disputeFilings.get(disputeFilingKey({ ...filing, stage: 'chargeback' }));
          let filed_minor: unknown = null;
          try {
            filed_minor = chargeback === undefined ? null : (JSON.parse(chargeback) as { amount_minor?: unknown }).amount_minor;
          } catch {
            filed_minor = null; // not a filing this simulator stored (a test's lever)
          }
          if (typeof filed_minor !== 'number') return reply(422, { error: `no chargeback of ${filing.dispute_id} to change` });
          if (filing.amount_minor >= filed_minor) {
            return reply(422, { error: `the chargeback of ${filing.dispute_id} is for ${filed_minor}: a change lowers it` });
          }
        }
        const text = JSON.stringify(filing);
        const known = disputeFilings.get(key);
        if (known !== undefined && known !== text) return reply(422, { error: `${key} was filed with other fields` });
        if (known === undefined && disputeFilings.size >= NETWORK_DISPUTE_FILINGS_MAX) return reply(507, { error: 'too many filings' });
        disputeFilings.set(key, text);
        return reply(200, { case_id: `case-${filing.dispute_id}` });
      }
      if (path === '/network/discrepancies') {
        const parsed = networkDiscrepancySchema.safeParse(json);
        if (!parsed.success) return reply(400, { error: describeIssue(parsed.error) });
        const key = `${parsed.data.currency} ${parsed.data.window_end}`;
        if (!discrepancies.has(key) && discrepancies.size >= DISCREPANCIES_MAX) return reply(507, { error: 'too many discrepancies' });
        discrepancies.set(key, parsed.data.delta_minor);
        return reply(200, { ok: true });
      }
      const parsed = networkRecordsRequestSchema.safeParse(json);
      if (!parsed.success) return reply(400, { error: describeIssue(parsed.error) });
      if (new Set(parsed.data.records.map((r) => r.record_id)).size !== parsed.data.records.length) {
        return reply(400, { error: 'records: a record_id appears twice' });
      }
      const fresh = parsed.data.records.filter((r) => !records.has(r.record_id));
      const conflicting = parsed.data.records.find((r) => records.has(r.record_id) && !sameRecord(records.get(r.record_id)!, r));
      if (conflicting) return reply(409, { error: `record ${conflicting.record_id} was recorded with other fields` });
      if (records.size + fresh.length > NETWORK_RECORDS_MAX) return reply(507, { error: `over ${NETWORK_RECORDS_MAX} records` });
      for (const r of fresh) records.set(r.record_id, r);
      return reply(200, { recorded: fresh.length });
    })();
    return true;
  }

  return { records, discrepancies, disputeFilings, report, handle };
}
