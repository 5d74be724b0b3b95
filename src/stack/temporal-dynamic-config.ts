// The Temporal server's dynamic configuration, from its one file (config/temporal/dynamicconfig.yaml):
// server mode and docker-compose.yml use the file itself, the dev server gets it as flags.
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

/** The dev server's spelling: `--dynamic-config-value key=value` (the value as JSON). */
export function devServerDynamicConfigArgs(config: DynamicConfig = readDynamicConfig()): string[] {
  return Object.entries(config).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]);
}
