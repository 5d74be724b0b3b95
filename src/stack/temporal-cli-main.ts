// `npm run temporal:install`: finds or builds the Temporal CLI and prints its path (CI uses it to
// build the binary before the tests, so test time is not spent compiling Go).
import { resolveTemporalCli } from './temporal-cli.js';

try {
  const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: false });
  if (executable.type === 'existing-path') console.log(`${executable.path} (${executable.source})`);
} catch (err) {
  console.error(`temporal:install: ${(err as Error).message}`);
  process.exit(1);
}
