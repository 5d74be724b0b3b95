// No secret in a file others can read: stack.json (the app role's database URL, the local API
// key) and the database role passwords are written mode 0600, whatever the umask.
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { passwordFromFile } from '../../src/ledger/roles.js';
import { stackFilePath, writeStackFile } from '../../src/stack/stack-file.js';

test('stack.json and role password files are private (0600) even under a permissive umask', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'secrets-'));
  const previous = process.umask(0o000);
  try {
    const password = passwordFromFile(path.join(dir, 'app-password'));
    assert.match(password, /^[A-Za-z0-9_-]{24}$/);
    assert.equal(statSync(path.join(dir, 'app-password')).mode & 0o777, 0o600);
    assert.equal(passwordFromFile(path.join(dir, 'app-password')), password, 'read back, not regenerated');
    writeStackFile(dir, {
      temporal: '127.0.0.1:7233',
      namespace: 'default',
      task_queue: 'payments',
      ui: null,
      database: 'postgres://payments_app:secret@127.0.0.1:5432/payments',
      settlement_gateway: 'http://127.0.0.1:7480',
      pid: process.pid,
      started_at: new Date().toISOString(),
    });
    assert.equal(statSync(stackFilePath(dir)).mode & 0o777, 0o600);
  } finally {
    process.umask(previous);
  }
});
