/**
 * Workflow code stays deterministic: every module reachable from workflows/ (the job runtime and the
 * toolkit workflow code uses included) imports only the workflow SDK, @temporalio/common, the
 * OpenTelemetry API (no I/O) and other workflow-safe modules (no Node builtins, pino, zod or I/O); type-only
 * imports are erased and do not count. The SDK's bundler accepts jobledger's entry and the examples' entry,
 * whose `order.fulfill` workflow code imports its typed step definitions.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from '../examples/jobs';
import { WORKFLOWS_PATH } from '../workers/worker';
import { ROOT, tempDir } from './helpers/servers';

const ALLOWED_PACKAGES = [/^@temporalio\/workflow$/, /^@temporalio\/common(\/.*)?$/, /^@opentelemetry\/api$/];

/** The modules a file imports at run time: `import type` and `export type` statements are erased by the compiler. */
function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8').replace(/^(?:import|export) type [^;]*;/gm, '');
  return [...source.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => (m[1] ?? m[2] ?? m[3])!,
  );
}

function localFile(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      // try the next form
    }
  }
  throw new Error(`cannot resolve ${spec} from ${from}`);
}

/**
 * Walks the modules reachable from `entry` (an absolute path, without extension) and returns every import that workflow code may not make:
 * a package outside ALLOWED_PACKAGES, or a local module outside `workflows/` and `common/` under `root`.
 */
function forbiddenImports(root: string, entry: string): { offenders: string[]; walked: Set<string> } {
  const seen = new Set<string>();
  const offenders: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file) || file.endsWith('.json')) return;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = localFile(file, spec);
        const rel = target.slice(root.length + 1);
        if (!/^(workflows|common)\//.test(rel)) offenders.push(`${file.slice(root.length + 1)} -> ${rel}`);
        visit(target);
      } else if (!ALLOWED_PACKAGES.some((p) => p.test(spec))) {
        offenders.push(`${file.slice(root.length + 1)} -> ${spec}`);
      }
    }
  };
  visit(localFile(root, entry));
  return { offenders, walked: seen };
}

test('modules reachable from workflows/ import no Node builtins, pino, zod or I/O', () => {
  const { offenders, walked } = forbiddenImports(ROOT, WORKFLOWS_PATH.replace(/\.ts$/, ''));
  assert.ok(walked.has(join(ROOT, 'workflows/toolkit.ts')), 'the toolkit is checked');
  assert.ok(walked.size >= 5, `walked the workflow modules (${walked.size})`);
  assert.deepEqual(offenders, []);
});

test('the import check catches a forbidden import, however deep', (t) => {
  // A small module graph of its own: a workflow that imports an allowed package and a common module,
  // which imports a Node builtin, zod and an activity module outside workflows/ and common/.
  const root = tempDir('jobledger-determinism-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const dir of ['workflows', 'common', 'activities']) mkdirSync(join(root, dir));
  writeFileSync(join(root, 'workflows/index.ts'), "import { sleep } from '@temporalio/workflow';\nimport { helper } from '../common/helper';\n");
  writeFileSync(
    join(root, 'common/helper.ts'),
    "import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';\nimport { z } from 'zod';\nimport type { Schema } from 'yup';\nexport { run } from '../activities/run';\n",
  );
  writeFileSync(join(root, 'activities/run.ts'), "import pino from 'pino';\n");
  const { offenders } = forbiddenImports(root, join(root, 'workflows/index'));
  assert.deepEqual(offenders.sort(), [
    'activities/run.ts -> pino',
    'common/helper.ts -> activities/run.ts',
    'common/helper.ts -> node:fs',
    'common/helper.ts -> zod',
  ]);
});

const QUIET = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

test("the SDK's workflow bundler accepts the workflow code", async () => {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: QUIET });
  assert.ok(code.includes('jobWorkflow'));
  assert.ok(code.includes('jobTypeWorkflow'), 'the default export that runs every job type');
});

test("the SDK's workflow bundler accepts the examples' entry with order.fulfill's workflow code and its step definitions", async () => {
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath, logger: QUIET });
  assert.ok(code.includes('manager-approval'), "order.fulfill's workflow code is in the bundle");
  assert.ok(code.includes('check-fraud'), 'its step definitions are in the bundle');
});
