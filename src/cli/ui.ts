// `ui payments`: links that open the Temporal Web UI on the payment views (src/domain/payment-views.ts)
// and save them among the browser's Saved Views, and the columns to add once per browser. Reads
// nothing but the Web UI's address: --ui, else the running stack's stack.json.
import { Command, Option } from 'commander';
import { PAYMENT_COLUMNS, paymentViewUrl, paymentViewsFor } from '../domain/payment-views.js';
import { companyId, httpUrl } from './args.js';
import { dataDir, outputOf, stackFile } from './context.js';
import { usageError } from './errors.js';
import { table } from './output.js';
import { stackFilePath } from '../stack/stack-file.js';

export function uiCommand(): Command {
  const ui = new Command('ui').description('the Temporal Web UI for payments: views and columns');
  ui.command('payments')
    .description('links to the payment views (each also saves its view in the browser), and the columns to add')
    .addOption(new Option('--ui <url>', 'the Web UI, e.g. http://127.0.0.1:8233 (default: stack.json)').argParser(httpUrl))
    .option('--namespace <name>', 'the Temporal namespace (default: stack.json, else TEMPORAL_NAMESPACE or "default")')
    .option('--company <company-id>', "only this company's payments", companyId)
    .option('--no-save', 'plain links, which do not add a Saved View (the Web UI adds one per visit of a saving link)')
    .addHelpText(
      'after',
      `
Columns are the browser's own: add them once with "Configure Columns" (the gear above the list):
  ${PAYMENT_COLUMNS.join(', ')}
Status is the workflow's: a card payment that holds money, needs attention or lingers (the demo's)
is Running at a final PaymentStatus; the PaymentStatus column says whether a payment is finished.`,
    )
    .action((o: { ui?: string; namespace?: string; company?: string; save: boolean }, cmd: Command) => {
      const stack = o.ui && o.namespace ? null : stackFile();
      const ui_url = o.ui ?? stack?.ui;
      if (!ui_url) {
        throw usageError(
          `no Web UI address: pass --ui URL, or start the platform with \`npm start\` (it writes ${stackFilePath(dataDir())}; with TEMPORAL_ADDRESS the Web UI is your deployment's)`,
        );
      }
      const namespace = o.namespace ?? stack?.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default';
      const views = paymentViewsFor(o.company).map((v) => ({ ...v, url: paymentViewUrl(ui_url, namespace, v, o.save) }));
      outputOf(cmd).value({ views, columns: PAYMENT_COLUMNS }, () =>
        [
          table(views, ['name', 'query']),
          '',
          o.save ? 'Open each link once: it shows the view and saves it under Saved Views.' : 'Links (they save nothing):',
          ...views.map((v) => `  ${v.name}: ${v.url}`),
          '',
          `Columns to add once per browser (Configure Columns, the gear above the list): ${PAYMENT_COLUMNS.join(', ')}`,
        ].join('\n'),
      );
    });
  return ui;
}
