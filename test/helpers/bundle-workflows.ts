/**
 * Bundles the tests' workflow code (test/fixtures/workflows.ts: jobledger's workflows, `order.fulfill`'s
 * and the test jobs' workflow code) once with the SDK's webpack bundler to .jobledger/test/workflow-bundle.js,
 * so every test process reuses it instead of bundling again. Fails if the workflow code imports anything
 * the workflow sandbox forbids.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { TEST_WORKFLOWS_PATH as workflowsPath } from './harness';

async function main(): Promise<void> {
  const out = join(__dirname, '../../.jobledger/test/workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error } });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  process.stdout.write(`workflow bundle: ${out} (${code.length} bytes)\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
