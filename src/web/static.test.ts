import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveStaticPath } from './static.ts';

test('static paths stay below the root and have a known type', () => {
  const root = mkdtempSync(join(tmpdir(), 'erx-static-'));
  try {
    mkdirSync(join(root, 'assets'));
    writeFileSync(join(root, 'assets', 'a.js'), '');
    assert.equal(resolveStaticPath(root, '/assets/a.js'), join(root, 'assets', 'a.js'));
    assert.equal(resolveStaticPath(root, '/assets/a.js?v=1'), join(root, 'assets', 'a.js'));
    for (const evil of ['/../etc/passwd', '/assets/../../x.js', '/%2e%2e/%2e%2e/etc/passwd.txt', '/assets/..%2F..%2Fx.js', '/assets%5c..%5cx.js',
      '/a.js%00.png', '/.env', '/assets/.hidden.js', '/%E0%A4%A', '/server.ts', '/etc/shadow']) {
      assert.equal(resolveStaticPath(root, evil), undefined, evil);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
