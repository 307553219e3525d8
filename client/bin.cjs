#!/usr/bin/env node
/**
 * The `jobledger` command on PATH (package.json `bin`: `npx jobledger <command>` from anywhere in the
 * checkout). It runs client/cli.ts through tsx in this process, as `npm run -s jobledger --` does, with the
 * same defaults made absolute so that they do not depend on the directory it is called from: the jobs module
 * (`JOBLEDGER_JOBS_MODULE`, this repository's examples) and the ledger file (`JOBLEDGER_LEDGER_PATH`,
 * `.jobledger/ledger.db` of the checkout, unless a ledger URL or a configuration file says otherwise).
 */
'use strict';
const { join } = require('node:path');

const root = join(__dirname, '..');
const env = process.env;
env.JOBLEDGER_JOBS_MODULE ??= join(root, 'examples/jobs/index.ts');
if (env.JOBLEDGER_LEDGER_PATH === undefined && env.JOBLEDGER_LEDGER_URL === undefined && env.JOBLEDGER_CONFIG_FILE === undefined) {
  env.JOBLEDGER_LEDGER_PATH = join(root, '.jobledger/ledger.db');
}
const { pathToFileURL } = require('node:url');

// tsx's entry registers its hooks when imported, exactly as `node --import tsx` does: then client/cli.ts
// (and the jobs module it imports) load as TypeScript.
import(pathToFileURL(require.resolve('tsx')).href)
  .then(() => require(join(root, 'client/cli.ts')).main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  });
