// The API's protobuf definitions: lint clean, no breaking change against the committed ones, the
// generated TypeScript in step with them, and proof that the breaking-change check bites.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';

const PROTO_DIR = path.join(REPO_ROOT, 'proto');
const BIN_DIR = path.join(REPO_ROOT, 'node_modules', '.bin');
const env = { ...process.env, PATH: `${BIN_DIR}${path.delimiter}${process.env.PATH ?? ''}` };

function buf(args: string[], cwd = REPO_ROOT) {
  const result = spawnSync(path.join(BIN_DIR, 'buf'), args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(result.error, undefined, String(result.error));
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

describe('protobuf definitions', () => {
  test('buf lint is clean', () => {
    const { status, output } = buf(['lint', 'proto']);
    assert.equal(status, 0, output);
  });

  test('no breaking change against the committed definitions (git HEAD)', () => {
    const { status, output } = buf(['breaking', 'proto', '--against', '.git#ref=HEAD,subdir=proto']);
    assert.equal(status, 0, output);
  });

  test('the breaking-change check bites: deleting a field fails it', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'proto-breaking-'));
    try {
      cpSync(PROTO_DIR, scratch, { recursive: true });
      const file = path.join(scratch, 'cardplatform', 'payments', 'v1', 'payments.proto');
      const changed = readFileSync(file, 'utf8').replace(/\n\s*int64 amount_minor = 2;\n(\s*\/\/ What the network answers)/, '\n$1');
      assert.notEqual(changed, readFileSync(file, 'utf8'), 'the test edits the proto');
      writeFileSync(file, changed);
      const { status, output } = buf(['breaking', scratch, '--against', PROTO_DIR]);
      assert.notEqual(status, 0, 'a deleted field must be reported');
      assert.match(output, /AuthorizeRequest/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('src/gen is what `npm run proto:generate` makes of them', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'proto-gen-'));
    try {
      const template = JSON.stringify({
        version: 'v2',
        plugins: [{ local: 'protoc-gen-es', out: scratch, opt: ['target=ts', 'import_extension=js'] }],
      });
      const { status, output } = buf(['generate', '--template', template], PROTO_DIR);
      assert.equal(status, 0, output);
      const committed = path.join(REPO_ROOT, 'src', 'gen');
      assert.deepEqual(filesUnder(scratch), filesUnder(committed));
      for (const f of filesUnder(scratch)) {
        assert.equal(
          readFileSync(path.join(committed, f), 'utf8'),
          readFileSync(path.join(scratch, f), 'utf8'),
          `src/gen/${f} is stale: run npm run proto:generate`,
        );
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
