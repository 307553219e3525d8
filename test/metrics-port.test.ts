/**
 * Two `npm run -s worker` on one host with the same configuration both run: the second finds the metrics
 * port taken, takes the next free one (workers/metrics-port.ts), logs it in its `worker started` line and
 * serves /metrics there. Also the port choice on its own: taken ports are skipped, 0 turns metrics off.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { JOBS_MODULE } from '../examples/jobs';
import { bindMetrics, METRICS_PORT_TRIES, metricsUrl } from '../workers/metrics-port';
import { freePort, startDevServer, tempDir, unique } from './helpers/servers';
import { startWorkerProcess, stopStarted, workerStarted } from './helpers/process';

let env: TestWorkflowEnvironment;

before(async () => {
  env = await startDevServer();
});
after(async () => {
  await stopStarted();
  await env?.teardown();
});

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('bindMetrics skips taken ports: the configured one, then the next, and 0 is off', async () => {
  const port = await freePort();
  const holder = await listen(port);
  try {
    const tried: (string | undefined)[] = [];
    const bound = await bindMetrics('127.0.0.1', port, (address) => void tried.push(address));
    assert.notEqual(bound, port);
    assert.ok(bound !== undefined && bound > port && bound < port + METRICS_PORT_TRIES, `bound ${String(bound)}`);
    assert.deepEqual(tried, [`127.0.0.1:${bound}`]);
    // A port taken between the probe and the bind (the installer says so) is skipped too.
    const refused: string[] = [];
    const next = await bindMetrics('127.0.0.1', port, (address) => {
      if (refused.length === 0) {
        refused.push(address ?? '');
        throw new Error('Failed to start prometheus metrics exporter: Address already in use (os error 98)');
      }
    });
    assert.ok(next !== undefined && next !== port, String(next));
    assert.equal(metricsUrl('127.0.0.1', next), `http://127.0.0.1:${next}/metrics`);
    // Any other installer error is not a taken port: it is thrown.
    await assert.rejects(bindMetrics('127.0.0.1', port, () => { throw new Error('bad telemetry options'); }), /bad telemetry options/);
  } finally {
    holder.close();
  }
  const off: (string | undefined)[] = [];
  assert.equal(await bindMetrics('127.0.0.1', 0, (address) => void off.push(address)), undefined);
  assert.deepEqual(off, [undefined]);
  assert.equal(metricsUrl('127.0.0.1', undefined), 'off');
});

test('two npm run worker processes with the same configuration both start and both serve /metrics', async () => {
  const dir = tempDir();
  const port = await freePort();
  const config: NodeJS.ProcessEnv = {
    TEMPORAL_ADDRESS: env.address,
    JOBLEDGER_TASK_QUEUE: unique('two-workers'),
    JOBLEDGER_LEDGER_PATH: join(dir, 'ledger.db'),
    JOBLEDGER_BREAKER_PATH: join(dir, 'breakers.db'),
    JOBLEDGER_METRICS_PORT: String(port),
    JOBLEDGER_JOBS_MODULE: JOBS_MODULE,
    LOG_LEVEL: 'info',
  };
  const first = startWorkerProcess(true, config);
  const firstStarted = await workerStarted(first);
  const second = startWorkerProcess(true, config);
  const secondStarted = await workerStarted(second);

  assert.equal(firstStarted.metrics, `http://127.0.0.1:${port}/metrics`);
  assert.equal(typeof secondStarted.metrics, 'string');
  assert.notEqual(secondStarted.metrics, firstStarted.metrics);
  assert.match(String(secondStarted.metrics), /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  for (const url of [firstStarted.metrics, secondStarted.metrics]) {
    const response = await fetch(String(url));
    assert.equal(response.status, 200, String(url));
    const body = await response.text();
    assert.match(body, /^# (HELP|TYPE) /m, `${url} does not serve Prometheus metrics`);
  }
  // Both are still running (neither died on the taken port).
  assert.equal(first.child.exitCode, null);
  assert.equal(second.child.exitCode, null);

  first.child.kill('SIGTERM');
  second.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);
  assert.equal(await second.exited, 0);
});
