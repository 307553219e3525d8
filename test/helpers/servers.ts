/**
 * Test environments on real Temporal servers, found through the project's one resolver
 * (scripts/resolve-temporal.sh): the CLI dev server through `createLocal`, with every custom search
 * attribute registered, and the time-skipping test server through `createTimeSkipping`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EphemeralServerExecutable } from '@temporalio/testing/lib/ephemeral-server';
import { temporal } from '@temporalio/proto';
import { Runtime } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES } from '../../common/searchAttributes';
import { createLogger, PinoSdkLogger, type Logger } from '../../core/logging';

export const ROOT = resolve(__dirname, '../..');

/** Runs the resolver; on failure, `SDK download` is the last route, taken only when explicitly allowed. */
export function resolveExecutable(kind: 'cli' | 'test-server'): EphemeralServerExecutable {
  try {
    const path = execFileSync(join(ROOT, 'scripts/resolve-temporal.sh'), [kind], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    return { type: 'existing-path', path };
  } catch (err) {
    if (process.env.JOBLEDGER_ALLOW_SDK_DOWNLOAD === '1') return { type: 'cached-download' };
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`no Temporal ${kind} available:\n${stderr}`);
  }
}

let logger: Logger | undefined;
/**
 * The test process's logger (silent unless LOG_LEVEL asks), also installed as the SDK Runtime's logger.
 * The first call installs the Runtime; a test that scrapes metrics calls it first with a port.
 */
export function testLogger(options: { metricsPort?: number; logger?: Logger } = {}): Logger {
  if (!logger) {
    logger = options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'silent', name: 'test' });
    Runtime.install({
      logger: new PinoSdkLogger(logger),
      ...(options.metricsPort && { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${options.metricsPort}` } } } }),
    });
  }
  return logger;
}

export function startDevServer(): Promise<TestWorkflowEnvironment> {
  testLogger();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: resolveExecutable('cli'),
      ip: '127.0.0.1',
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      log: { format: 'json', level: 'error' },
    },
  });
}

/** A dev server with its Web UI on a free 127.0.0.1 port; `uiUrl` is the UI's base URL. */
export async function startDevServerWithUi(): Promise<{ env: TestWorkflowEnvironment; uiUrl: string }> {
  testLogger();
  const uiPort = await freePort();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: resolveExecutable('cli'),
      ip: '127.0.0.1',
      ui: true,
      uiPort,
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      log: { format: 'json', level: 'error' },
    },
  });
  return { env, uiUrl: `http://127.0.0.1:${uiPort}` };
}

/** The time-skipping server, with the project's search attributes added through its operator service. */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  testLogger();
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: resolveExecutable('test-server') } });
  const searchAttributes: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    searchAttributes[key.name] =
      key.type === 'INT' ? temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT : temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  }
  await env.connection.operatorService.addSearchAttributes({ namespace: env.namespace ?? 'default', searchAttributes });
  return env;
}

const tempDirs: string[] = [];
// Every test file runs in its own process: its temporary directories go when it exits.
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory for one test's files (ledger, sandbox stores), removed when the test process exits. */
export function tempDir(prefix = 'jobledger-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A free TCP port on 127.0.0.1, for servers that cannot pick their own. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

let counter = 0;
/** A name unique to this test process, for task queues and idempotency keys. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
