// `npm ci` on the Node version the project names prints no engine warning: every package in the
// lockfile that states a Node range accepts the project's lowest supported Node (package.json
// `engines.node`, which the README names) and the Node running the tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { REPO_ROOT } from '../../src/config.js';

interface LockPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockPackage>;
};

/** Packages whose stated Node range does not accept `node`, as "name@version wants range". */
function refusing(node: string): string[] {
  assert.ok(semver.valid(node), `a Node version: ${node}`);
  const refused: string[] = [];
  for (const [where, pkg] of Object.entries(lock.packages)) {
    if (where === '' || pkg.engines === undefined || Array.isArray(pkg.engines)) continue;
    const range = pkg.engines.node;
    if (range === undefined) continue;
    if (!semver.satisfies(node, range)) refused.push(`${where.replace(/^.*node_modules\//, '')}@${pkg.version} wants node ${range}`);
  }
  return refused;
}

test('every locked package accepts the lowest Node the project supports', () => {
  const lowest = semver.minVersion(manifest.engines.node);
  assert.ok(lowest, `package.json engines.node is a range: ${manifest.engines.node}`);
  assert.deepEqual(refusing(lowest.version), [], `npm ci would warn on Node ${lowest.version}`);
});

test('every locked package accepts the Node running the tests', () => {
  assert.ok(semver.satisfies(process.versions.node, manifest.engines.node), `Node ${process.versions.node} is supported`);
  assert.deepEqual(refusing(process.versions.node), [], `npm ci warns on Node ${process.versions.node}`);
});

test('the check bites: a package wanting a newer Node is reported', () => {
  lock.packages['node_modules/example-needs-node-99'] = { version: '1.0.0', engines: { node: '>=99' } };
  try {
    assert.deepEqual(refusing('20.11.0'), ['example-needs-node-99@1.0.0 wants node >=99']);
  } finally {
    delete lock.packages['node_modules/example-needs-node-99'];
  }
});
