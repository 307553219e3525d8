/**
 * Workflow code stays deterministic: every module reachable from workflows/ imports only the workflow
 * SDK, @temporalio/common, the OpenTelemetry API (no I/O) and other workflow-safe modules (no Node builtins, pino, zod or I/O), and the
 * SDK's bundler accepts it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../workers/worker';
import { ROOT } from './helpers/servers';

const ALLOWED_PACKAGES = [/^@temporalio\/workflow$/, /^@temporalio\/common(\/.*)?$/, /^@opentelemetry\/api$/];

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
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

test('modules reachable from workflows/ import no Node builtins, pino, zod or I/O', () => {
  const seen = new Set<string>();
  const offenders: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file) || file.endsWith('.json')) return;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = localFile(file, spec);
        const rel = target.slice(ROOT.length + 1);
        if (!/^(workflows|common)\//.test(rel)) offenders.push(`${file.slice(ROOT.length + 1)} -> ${rel}`);
        visit(target);
      } else if (!ALLOWED_PACKAGES.some((p) => p.test(spec))) {
        offenders.push(`${file.slice(ROOT.length + 1)} -> ${spec}`);
      }
    }
  };
  visit(localFile(ROOT, WORKFLOWS_PATH.replace(/\.ts$/, '')));
  assert.ok(seen.size >= 3, `walked the workflow modules (${seen.size})`);
  assert.deepEqual(offenders, []);
});

test('the import check catches a forbidden import', () => {
  const imports = importsOf(join(ROOT, 'activities/index.ts'));
  assert.ok(imports.some((spec) => !ALLOWED_PACKAGES.some((p) => p.test(spec)) && !spec.startsWith('.')));
});

test("the SDK's workflow bundler accepts the workflow code", async () => {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
  assert.ok(code.includes('jobWorkflow'));
});
