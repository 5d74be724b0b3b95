// The Temporal Web UI as an operator uses it, in a real browser: `npm start` in a scratch data
// folder, the demo's payments, then headless Chromium (the one inside the npm package
// @sparticuz/chromium, driven by playwright-core) lists the payouts with a search-attribute query,
// opens one and shows its input decrypted, which it can only do through the codec server. Also `npm run report` against the same
// platform, looked at in the same browser. Screenshots go to the test's scratch folder (and to
// WEB_UI_SCREENSHOT_DIR when set).
import assert from 'node:assert/strict';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import packagedChromium from '@sparticuz/chromium';
import { chromium, type Browser, type Page } from 'playwright-core';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { PAYMENT_COLUMNS } from '../../src/domain/payment-views.js';
import { PaymentStatusKey, visibleStatus } from '../../src/domain/search-attributes.js';
import { readStackFile } from '../../src/stack/stack-file.js';
import { testEnv } from '../support/env.js';
import { stackEnv } from '../support/npm-start.js';
import { tsx, type Started } from '../support/tsx-process.js';

const START_TIMEOUT_MS = 180_000;
/** The Web UI is a single-page app: its first load and each query take a while on a busy machine. */
const UI_TIMEOUT_MS = 90_000;

/**
 * CHROMIUM_PATH when set, else the headless Chromium that ships inside the npm package
 * `@sparticuz/chromium` (a devDependency, so `npm ci` brings it: no system package, no download).
 * Its first use unpacks the binary into the system's temporary folder (a second or two).
 */
async function findChromium(): Promise<string> {
  const explicit = process.env.CHROMIUM_PATH;
  if (explicit) {
    accessSync(explicit, constants.X_OK);
    return explicit;
  }
  const unpacked = await packagedChromium.executablePath();
  accessSync(unpacked, constants.X_OK);
  return unpacked;
}

let platform: Started | null = null;
let browser: Browser | null = null;
after(async () => {
  await browser?.close().catch(() => undefined);
  if (platform && platform.child.exitCode === null) {
    platform.child.kill('SIGINT');
    await platform.exited;
  }
});

/** Waits until the page's visible text contains `text`; fails naming what it was waiting for. */
async function waitForText(page: Page, text: string, what: string, shot: string): Promise<void> {
  try {
    // Runs in the page (the Web UI's CSP forbids string eval; this project compiles without the DOM's types).
    await page.waitForFunction(
      (t: string) =>
        ((globalThis as unknown as { document: { body: { innerText: string } | null } }).document.body?.innerText ?? '').includes(t),
      text,
      { timeout: UI_TIMEOUT_MS, polling: 250 },
    );
  } catch (err) {
    await page.screenshot({ path: shot, fullPage: true }).catch(() => undefined);
    assert.fail(
      `${what}: "${text}" did not appear on ${page.url()} within ${UI_TIMEOUT_MS} ms (${(err as Error).message.split('\n')[0]}); ` +
        `screenshot ${shot}`,
    );
  }
}

test('the Web UI lists payouts by search attribute, shows a payout input decoded by the codec server, and shows payments with their status, company and amount', async () => {
  const chromiumPath = await findChromium();
  const scratch = mkdtempSync(path.join(testEnv.scratchDir, 'web-ui-'));
  const env = await stackEnv(path.join(scratch, 'data'));

  platform = tsx('src/stack/start.ts', env);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!/platform is up/.test(platform.stdout())) {
    if (platform.child.exitCode !== null) assert.fail(`npm start exited with ${platform.child.exitCode}:\n${platform.stderr()}`);
    if (Date.now() > deadline) assert.fail(`npm start was not up within ${START_TIMEOUT_MS} ms:\n${platform.stderr()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const stack = readStackFile(env.DATA_DIR!);
  assert.ok(stack?.ui, 'stack.json names the Web UI');
  assert.ok(stack.codec_server, 'stack.json names the codec server (npm start runs one for the Web UI)');

  // Three payments: a purchase, a payout (i = 1: payee "Supplier 1", account US100000001), a decline.
  // Only the 3 payments: the billing cycle's own payouts and purchases would change what is listed.
  const demo = tsx('src/demo/demo.ts', env, ['--payments', '3', '--no-billing', '--json']);
  assert.equal(await demo.exited, 0, demo.stderr() + demo.stdout());
  const summary = JSON.parse(demo.stdout().trim().split('\n').at(-1)!) as { terminal: number; invariants_ok: boolean };
  assert.equal(summary.terminal, 3);

  // The payout, and proof that its input is stored encrypted: what the page shows in clear can only
  // come from the codec server.
  const connection = await Connection.connect({ address: stack.temporal });
  let workflowId: string;
  try {
    const client = new Client({ connection, namespace: stack.namespace });
    const payouts: string[] = [];
    for (let tries = 0; payouts.length === 0 && tries < 60; tries++) {
      for await (const wf of client.workflow.list({ query: `PaymentKind = "payout"` })) payouts.push(wf.workflowId);
      if (payouts.length === 0) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(payouts.length, 1, `the demo's 3 payments hold one payout: ${payouts.join(', ')}`);
    workflowId = payouts[0]!;
    assert.match(workflowId, /^payment-demo-.*-000001$/);
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    assert.ok(input, 'the payout has an input payload');
    assert.equal(Buffer.from(input.metadata?.encoding ?? new Uint8Array()).toString(), 'binary/encrypted', 'the input is stored encrypted');
    assert.ok(!Buffer.from(input.data ?? new Uint8Array()).includes('US100000001'), 'the payee account is not stored in clear');
  } finally {
    await connection.close();
  }
  const paymentId = workflowId.slice(paymentWorkflowId('').length);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Runs as root in CI: Chromium's sandbox needs a user namespace it does not get there. Not the
    // package's own serverless flags: those switch off web security, and the codec server's CORS
    // answers are part of what this test proves.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  const decodeCalls: Array<{ url: string; status: number }> = [];
  page.on('response', (res) => {
    if (res.url().startsWith(`${stack.codec_server}/decode`)) decodeCalls.push({ url: res.url(), status: res.status() });
  });

  // 1. The workflows list, filtered with a search-attribute query.
  const query = `PaymentKind = "payout"`;
  await page.goto(`${stack.ui}/namespaces/${stack.namespace}/workflows?query=${encodeURIComponent(query)}`, {
    waitUntil: 'domcontentloaded',
  });
  const row = page.locator(`a[href*="/workflows/${encodeURIComponent(workflowId)}/"]`).first();
  try {
    await row.waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
  } catch (err) {
    const shot = path.join(scratch, 'web-ui-list-failed.png');
    await page.screenshot({ path: shot, fullPage: true }).catch(() => undefined);
    assert.fail(
      `the workflows list for ${query} shows no link to ${workflowId} (${(err as Error).message.split('\n')[0]}); screenshot ${shot}`,
    );
  }
  const hrefs = await Promise.all((await page.locator('a[href*="/workflows/payment-demo-"]').all()).map((a) => a.getAttribute('href')));
  const listedCards = [...new Set(hrefs.filter((h) => h !== null && !h.includes(`/workflows/${encodeURIComponent(workflowId)}/`)))];
  assert.deepEqual(listedCards, [], 'the query lists the payout only, not the card payments');
  await page.screenshot({ path: path.join(scratch, 'web-ui-list.png') });

  // 2. The payout: its input, decoded through the codec server.
  await row.click();
  await page.waitForURL(new RegExp(`/workflows/${workflowId}/`), { timeout: UI_TIMEOUT_MS });
  await waitForText(page, 'US100000001', 'the payout input decoded (payee bank account)', path.join(scratch, 'web-ui-payout-failed.png'));
  await waitForText(page, 'Supplier 1', 'the payout input decoded (payee name)', path.join(scratch, 'web-ui-payout-failed.png'));
  assert.ok(
    decodeCalls.some((c) => c.status === 200),
    `the Web UI decoded through ${stack.codec_server}/decode: ${JSON.stringify(decodeCalls)}`,
  );
  const shot = path.join(scratch, 'web-ui-payout.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(existsSync(shot));
  console.error(`[web-ui] payment ${paymentId}: screenshots in ${scratch}`);

  // 3. `npm run report` on the same platform: the demo's figures, and it renders in a browser.
  const reportFile = path.join(scratch, 'report.html');
  let html = '';
  for (let tries = 0; tries < 20; tries++) {
    const report = tsx('src/report/main.ts', env, ['--out', reportFile]);
    assert.equal(await report.exited, 0, report.stderr());
    assert.equal(report.stdout().trim().split('\n').at(-1), reportFile, 'prints where the page is');
    html = readFileSync(reportFile, 'utf8');
    if (html.includes('data-kind="payout" data-status="SETTLED">1<')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.match(html, /data-figure="payments">3</);
  assert.match(html, /data-kind="payout" data-status="SETTLED">1</);
  assert.match(html, /data-kind="card" data-status="total">2</);
  assert.match(html, /data-verdict="ok"/);
  assert.doesNotMatch(html, /metrics unavailable/, 'both metrics endpoints answered');
  assert.match(html, /Authorization decision \(worker[^<]*<\/h3>\s*<svg/, "the worker's decision latency histogram");
  assert.match(html, /Transfers per ledger batch<\/h3>\s*<svg/);
  await page.goto(`file://${reportFile}`);
  assert.equal((await page.locator('svg').count()) >= 4, true, 'the report draws its charts');
  await page.screenshot({ path: path.join(scratch, 'report.png'), fullPage: true });

  // 4. The payment views (`npm run cli -- ui payments`) with the payment columns: a finished card
  // payment reads as what it is. Made as the README does (production timings: it completes at its
  // final state), beside the demo's card payments, which linger Running at their final state.
  const cli = async (...args: string[]) => {
    const run = tsx('src/cli/main.ts', env, args);
    assert.equal(await run.exited, 0, `cli ${args.join(' ')}: ${run.stderr()}`);
    return run.stdout();
  };
  const txn = { card: ['--card', 'acme-card-1', '--amount-minor', '1250', '--mcc', '5812', '--merchant', 'Cafe Rio'] };
  await cli('ledger', 'credit-line', '--company', 'acme', '--limit-minor', '500000', '--grant-key', 'initial');
  await cli('cards', 'issue', 'acme-card-1', '--company', 'acme');
  await cli('payments', 'authorize', 'acme-txn-1', ...txn.card);
  await cli('payments', 'clear', 'acme-txn-1', ...txn.card, '--event-id', 'clearing-1');
  const finishedId = paymentWorkflowId('acme-txn-1');
  const lingeringId = paymentWorkflowId(`${paymentId.slice(0, -'000001'.length)}000000`);
  const status = await (async () => {
    const connection = await Connection.connect({ address: stack.temporal });
    try {
      const client = new Client({ connection, namespace: stack.namespace });
      // Waits for the close by its status: this client has no payload keys to decode the result.
      let described = await client.workflow.getHandle(finishedId).describe();
      for (let polls = 0; described.status.name === 'RUNNING' && polls < 600; polls += 1) {
        await new Promise((r) => setTimeout(r, 100));
        described = await client.workflow.getHandle(finishedId).describe();
      }
      return {
        finished: described.status.name,
        finished_payment: described.typedSearchAttributes.get(PaymentStatusKey),
        lingering: (await client.workflow.getHandle(lingeringId).describe()).status.name,
      };
    } finally {
      await connection.close();
    }
  })();
  assert.equal(status.finished, 'COMPLETED', 'a card payment completes at its final state');
  // Settled and completed: nothing written (IMPLIED_CARD_STATUS), read as SETTLED.
  assert.equal(status.finished_payment, undefined);
  assert.equal(visibleStatus(status.finished_payment, 'card', status.finished), 'SETTLED');
  assert.equal(status.lingering, 'RUNNING', "the demo's card payment lingers at its final state");

  const printed = JSON.parse(await cli('--json', 'ui', 'payments')) as { views: Array<{ name: string; url: string }>; columns: string[] };
  assert.deepEqual(printed.columns, [...PAYMENT_COLUMNS]);
  const cardView = printed.views.find((v) => v.name === 'Card payments');
  assert.ok(cardView, JSON.stringify(printed.views));
  assert.ok(cardView.url.startsWith(`${stack.ui}/namespaces/${stack.namespace}/workflows?`), cardView.url);
  await page.goto(cardView.url, { waitUntil: 'domcontentloaded' });
  const rowOf = (id: string) =>
    page.getByTestId('workflows-summary-configurable-table-row').filter({ has: page.locator(`a[href*="/workflows/${id}/"]`) });
  await rowOf(finishedId).first().waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
  // The link saved the view in this browser (the Web UI's share-a-view link).
  const saved = await page.evaluate(() =>
    (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem('saved-workflow-queries'),
  );
  assert.match(saved ?? '', /"name":"Card payments"/, `the view is saved in the browser: ${saved}`);
  await waitForText(page, 'Card payments', 'the saved view in the Saved Views list', path.join(scratch, 'web-ui-views-failed.png'));
  // The columns, added as a user does (Configure Columns), kept by the browser across reloads.
  await page.getByTestId('workflows-summary-table-configuration-button').click();
  for (const column of PAYMENT_COLUMNS) await page.getByRole('button', { name: `Add ${column} column` }).click();
  await page.keyboard.press('Escape');
  await page.reload({ waitUntil: 'domcontentloaded' });
  await rowOf(finishedId).first().waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
  const finishedRow = await rowOf(finishedId).first().innerText();
  assert.match(finishedRow, /Completed/, finishedRow);
  assert.doesNotMatch(finishedRow, /AUTHORIZED|RECEIVED/, finishedRow);
  assert.match(finishedRow, /acme/, finishedRow);
  assert.match(finishedRow, /1,?250/, finishedRow);
  const lingeringRow = await rowOf(lingeringId).first().innerText();
  assert.match(lingeringRow, /Running/, lingeringRow);
  assert.match(lingeringRow, /SETTLED|DECLINED/, `a lingering payment shows its final PaymentStatus: ${lingeringRow}`);
  await page.screenshot({ path: path.join(scratch, 'web-ui-views.png'), fullPage: true });

  // The scratch folder goes after a green run: WEB_UI_SCREENSHOT_DIR keeps a copy.
  const keep = process.env.WEB_UI_SCREENSHOT_DIR;
  if (keep) {
    mkdirSync(keep, { recursive: true });
    for (const name of ['web-ui-list.png', 'web-ui-payout.png', 'report.png', 'web-ui-views.png'])
      copyFileSync(path.join(scratch, name), path.join(keep, name));
  }

  platform.child.kill('SIGINT');
  assert.equal(await platform.exited, 0, platform.stderr());
});
