// `npm run temporal:install`: finds or builds the Temporal CLI and prints its path; with
// `--server`, also the Temporal server, its schema tool and the Web UI server (server mode). CI
// runs it before the tests, so test time is not spent compiling Go.
import { resolveTemporalCli } from './temporal-cli.js';
import { resolveTemporalServerBinaries } from './temporal-server-binaries.js';

try {
  const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: false });
  if (executable.type === 'existing-path') console.log(`${executable.path} (${executable.source})`);
  if (process.argv.includes('--server')) {
    const binaries = await resolveTemporalServerBinaries(true);
    for (const file of Object.values(binaries)) console.log(file);
  }
} catch (err) {
  console.error(`temporal:install: ${(err as Error).message}`);
  process.exit(1);
}
