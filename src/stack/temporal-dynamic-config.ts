// The Temporal server's dynamic configuration as a file (config/temporal/dynamicconfig.yaml), for
// server mode and docker-compose.yml. Its values are src/engine-limits.ts's (the dev server gets
// those as flags); a unit test checks the file agrees with them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { REPO_ROOT } from '../config.js';

export const DYNAMIC_CONFIG_FILE = path.join(REPO_ROOT, 'config', 'temporal', 'dynamicconfig.yaml');

const scalar = z.union([z.boolean(), z.number(), z.string()]);
// Only unconstrained values: a `--dynamic-config-value KEY=VALUE` flag has no constraints.
const dynamicConfigSchema = z.record(
  z.string().regex(/^[a-zA-Z]+(\.[a-zA-Z0-9]+)+$/),
  z.array(z.strictObject({ value: scalar })).length(1),
);

export type DynamicConfig = Record<string, boolean | number | string>;

export function readDynamicConfig(file: string = DYNAMIC_CONFIG_FILE): DynamicConfig {
  const parsed = dynamicConfigSchema.safeParse(parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return Object.fromEntries(Object.entries(parsed.data).map(([key, [entry]]) => [key, entry!.value]));
}
