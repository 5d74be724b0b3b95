// The workflow bundles load zod once per workflow thread (src/workflows/preload.ts). Nothing fails
// if the preload silently drops out of a bundle (webpack removes a bare require of a package that
// declares no side effects, as zod does): each workflow would evaluate zod again and only cost more
// CPU. So check the bundles the test run built, as bundleWorkflows builds them for production:
// the preload function loads the preload module, and every zod module the workflow code imports is
// one the preload module imports too (so it is in the shared cache before the first workflow).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { testEnv } from '../support/env.js';

const PRELOAD_MODULE_ID = './src/workflows/preload.ts';

/** The module ids that `source` (one module's code in the bundle) requires from node_modules/zod. */
function zodRequires(source: string): Set<string> {
  return new Set([...source.matchAll(/__webpack_require__\([^)]*?"(\.\/node_modules\/zod\/[^"]+)"\)/g)].map((m) => m[1]!));
}

/** One module's code in a webpack bundle: from its `/***\/ "id"` header to the next module's. */
function moduleSource(bundle: string, id: string): string {
  const start = bundle.indexOf(`/***/ "${id}"`);
  assert.ok(start >= 0, `module ${id} is in the bundle`);
  const next = bundle.indexOf('/***/ "', start + 1);
  return bundle.slice(start, next < 0 ? undefined : next);
}

describe('workflow bundles preload zod', () => {
  for (const [name, bundlePath] of [
    ['every workflow (payments worker)', () => testEnv.workflowBundlePath],
    ['card payment alone (authorizations worker)', () => testEnv.cardWorkflowBundlePath],
  ] as const) {
    test(name, () => {
      const bundle = readFileSync(bundlePath(), 'utf8');
      const preloadFn = /exports\.preloadModules = function preloadModules\(\) \{([\s\S]*?)\n\}/.exec(bundle);
      assert.ok(preloadFn, 'the bundle has a preload function');
      assert.ok(preloadFn[1]!.includes(`"${PRELOAD_MODULE_ID}"`), `the preload function loads ${PRELOAD_MODULE_ID}: ${preloadFn[1]}`);

      const preloaded = zodRequires(moduleSource(bundle, PRELOAD_MODULE_ID));
      assert.ok(preloaded.size > 0, 'the preload module imports zod');
      const domain = zodRequires(moduleSource(bundle, './src/domain/card.ts'));
      assert.ok(domain.size > 0, 'the card domain module imports zod');
      for (const id of domain)
        assert.ok(preloaded.has(id), `${id}, imported by workflow code, is preloaded (${[...preloaded].join(', ')})`);
    });
  }
});
