// The production engine's three programs, resolved like the CLI (go-binary.ts): the Temporal
// server, its SQL schema tool, and the Web UI server. `go install` names them `server`, `sql` and
// `server`, so each gets its own cache folder, and a distinctive name on PATH.
import path from 'node:path';
import { resolveGoBinary, type GoBinarySpec, type ResolveDeps } from './go-binary.js';

/** The one place the server and Web UI versions are pinned; docker-compose.yml uses the same
 * (test/unit/docker-compose.test.ts checks). v1.29.1 is what the CLI v1.5.1 embeds and the newest
 * server whose go.mod the machine's Go accepts without a newer toolchain. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
export const TEMPORAL_UI_VERSION = 'v2.42.1';

export const TEMPORAL_SERVER: GoBinarySpec = {
  title: 'the Temporal server',
  env_var: 'TEMPORAL_SERVER_PATH',
  path_name: 'temporal-server',
  module: 'go.temporal.io/server/cmd/server',
  version: TEMPORAL_SERVER_VERSION,
  cache_subdir: path.join('temporal-server', TEMPORAL_SERVER_VERSION, 'server'),
  installed_name: 'server',
};

export const TEMPORAL_SQL_TOOL: GoBinarySpec = {
  title: "the Temporal server's schema tool",
  env_var: 'TEMPORAL_SQL_TOOL_PATH',
  path_name: 'temporal-sql-tool',
  module: 'go.temporal.io/server/cmd/tools/sql',
  version: TEMPORAL_SERVER_VERSION,
  cache_subdir: path.join('temporal-server', TEMPORAL_SERVER_VERSION, 'sql'),
  installed_name: 'sql',
};

export const TEMPORAL_UI_SERVER: GoBinarySpec = {
  title: 'the Temporal Web UI server',
  env_var: 'TEMPORAL_UI_SERVER_PATH',
  path_name: 'temporal-ui-server',
  module: 'github.com/temporalio/ui-server/v2/cmd/server',
  version: TEMPORAL_UI_VERSION,
  cache_subdir: path.join('temporal-ui', TEMPORAL_UI_VERSION),
  installed_name: 'server',
};

export interface TemporalServerBinaries {
  server: string;
  sql_tool: string;
  ui_server: string;
}

export const TEMPORAL_SERVER_INSTALL_HINT = 'npm run temporal:install -- --server';

/** One after the other: each `go install` already uses every core. */
export async function resolveTemporalServerBinaries(
  allow_go_install: boolean,
  deps: Partial<ResolveDeps> = {},
): Promise<TemporalServerBinaries> {
  const server = await resolveGoBinary(TEMPORAL_SERVER, allow_go_install, TEMPORAL_SERVER_INSTALL_HINT, deps);
  const sql_tool = await resolveGoBinary(TEMPORAL_SQL_TOOL, allow_go_install, TEMPORAL_SERVER_INSTALL_HINT, deps);
  const ui_server = await resolveGoBinary(TEMPORAL_UI_SERVER, allow_go_install, TEMPORAL_SERVER_INSTALL_HINT, deps);
  return { server: server.path, sql_tool: sql_tool.path, ui_server: ui_server.path };
}
