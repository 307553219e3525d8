/**
 * The BullMQ side of scenario b6, as its own process so that the bench can SIGKILL it: one BullMQ Worker on
 * the bench's redis-server whose processor applies the three steps of the peer job (bench/peer-effects.ts)
 * one after the other, without an Idempotency-Key (BullMQ gives a processor no per-step key; the job id is
 * the only one it has). Writes one JSON line `{"msg":"bullmq worker started","pid":...}` when it is ready
 * and closes the worker on SIGTERM. Settings come from the environment the bench gives it:
 * BENCH_REDIS_PORT and JOBLEDGER_SERVICE_EFFECTS_URL.
 */
import { Worker, type WorkerOptions } from 'bullmq';
import { serviceVariable } from '../core/config';
import { applyEffect, EFFECTS_SERVICE, PEER_STEPS } from './peer-effects';

/** The queue both the bench and the workers use. */
export const PEER_QUEUE = 'bench-peer';

/**
 * The worker's options, documented BullMQ options only: `concurrency` as many jobs at once as the Temporal
 * SDK runs activities by default (100); a lock of 3 s (jobledger's steps time out after 3 s, PEER_STEP_TIMEOUT)
 * renewed every 1.5 s (the default half), a stalled-job check every second, so a killed worker's jobs are
 * back in the wait list within about 4 s; and up to 10 recoveries of one job (the default, 1, fails a job
 * whose workers die twice). Completed jobs are kept (the default), so their ids keep deduplicating.
 */
export function peerWorkerOptions(redisPort: number): WorkerOptions {
  return {
    connection: { host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null },
    concurrency: 100,
    lockDuration: 3_000,
    stalledInterval: 1_000,
    maxStalledCount: 10,
  };
}

function main(): void {
  const redisPort = Number(process.env.BENCH_REDIS_PORT);
  const effectsUrl = process.env[serviceVariable(EFFECTS_SERVICE)];
  if (!Number.isInteger(redisPort) || redisPort <= 0 || !effectsUrl) {
    process.stderr.write(`peer-bullmq-worker: BENCH_REDIS_PORT and ${serviceVariable(EFFECTS_SERVICE)} must be set\n`);
    process.exit(2);
  }
  const worker = new Worker(
    PEER_QUEUE,
    async (job) => {
      for (const step of PEER_STEPS) await applyEffect(effectsUrl, { jobId: job.id!, step });
    },
    peerWorkerOptions(redisPort),
  );
  worker.on('error', (err) => process.stderr.write(`peer-bullmq-worker: ${err.message}\n`));
  void worker.waitUntilReady().then(() => process.stdout.write(JSON.stringify({ msg: 'bullmq worker started', pid: process.pid }) + '\n'));
  process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
}

if (require.main === module) main();
