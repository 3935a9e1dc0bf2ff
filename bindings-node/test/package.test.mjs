// Packaging: `npm pack` yields a tarball that installs offline into a fresh project and works
// from both `import` and `require`, sharing one module instance.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR } from './helpers.mjs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(command, args, cwd) {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('npm pack installs offline and works from import and require', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nexus-pack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const packed = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', dir], PACKAGE_DIR));
  const files = packed[0].files.map((f) => f.path);
  for (const required of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'native/index.js', 'native/index.d.ts']) {
    assert.ok(files.includes(required), `tarball has ${required}`);
  }
  assert.ok(files.some((f) => /^native\/nexus-sdk\..+\.node$/.test(f)), 'tarball has the native addon');
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests');
  const tarball = path.join(dir, packed[0].filename);

  const project = path.join(dir, 'consumer');
  run('mkdir', ['-p', project], dir);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  run(npm, ['install', '--offline', '--no-audit', '--no-fund', tarball], project);

  // Both faces load the native addon and map its errors; `import` and `require` share classes.
  const check = `
    const nexus = new sdk.NexusClient({ gatewayUrl: 'http://127.0.0.1:9', apiKey: 'k', retryPolicy: { maxRetries: 0 } });
    const fetcher = nexus.createFetcher({ workspaceId: 'w', provider: 'p' });
    let code;
    try { await fetcher('http://127.0.0.1:9/x'); } catch (e) { code = e instanceof sdk.NexusError ? e.code : String(e); }
    let invalid;
    try { new sdk.NexusClient({ gatewayUrl: 'not a url', apiKey: 'k' }); } catch (e) { invalid = e.code; }
    process.stderr.write(JSON.stringify({ code, invalid, same }) + '\\n');
  `;
  writeFileSync(
    path.join(project, 'esm.mjs'),
    `import * as sdk from '@dromos/nexus-sdk';
     import { createRequire } from 'node:module';
     const same = createRequire(import.meta.url)('@dromos/nexus-sdk').NexusError === sdk.NexusError;
     ${check}`,
  );
  writeFileSync(
    path.join(project, 'cjs.cjs'),
    `const sdk = require('@dromos/nexus-sdk');
     const same = typeof sdk.NexusClient === 'function';
     (async () => { ${check} })();`,
  );
  for (const entry of ['esm.mjs', 'cjs.cjs']) {
    const r = spawnSync(process.execPath, [entry], { cwd: project, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '', `${entry} wrote nothing to stdout`);
    const out = JSON.parse(r.stderr.trim().split('\n').pop());
    assert.deepEqual(out, { code: 'connection_error', invalid: 'invalid_request', same: true }, entry);
  }
});
