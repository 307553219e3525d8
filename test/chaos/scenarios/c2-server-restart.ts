/**
 * C2, the Temporal server restarted mid-run. Orders are submitted evenly while the dev server is stopped
 * (SIGTERM, then waiting for it to exit), left down for a while, and started again on the same SQLite
 * file and ports. A submission that fails during the outage is retried by the driver with the same input
 * (so the same job id); every submission that was acknowledged must exist in Temporal afterwards and end
 * terminal: an acknowledged job is never lost.
 */
import { isTerminal } from '../../../common/constants';
import type { SharedCheck } from '../invariants';
import type { ChaosScenario, InvariantResult } from '../scenario';
import { Submitter, paced, sleep } from '../workload';

type C2Params = {
  /** Orders submitted. */
  jobs: number;
  /** Worker processes. */
  workers: number;
  /** Submissions are spread over this long. */
  submitMs: number;
  /** The server is stopped this long after submissions start. */
  outageAtMs: number;
  /** How long it stays down before the restart. */
  downMs: number;
  /** How long a failing submission keeps being retried. */
  retryForMs: number;
  /** How long the jobs get to settle afterwards. */
  settleMs: number;
};

export const c2ServerRestart: ChaosScenario<C2Params> = {
  id: 'C2',
  title: 'Temporal dev server stopped and restarted on the same DB file and ports mid-run',
  // The full run stays down longer than the client SDK's own gRPC retries and the 20 s attempt deadline, so the driver's retry is exercised too.
  full: { jobs: 200, workers: 2, submitMs: 40_000, outageAtMs: 12_000, downMs: 25_000, retryForMs: 120_000, settleMs: 240_000 },
  smoke: { jobs: 20, workers: 2, submitMs: 8_000, outageAtMs: 3_000, downMs: 3_000, retryForMs: 60_000, settleMs: 120_000 },

  async run(env, p) {
    const initial = env.workers.start(p.workers);
    await env.workers.waitReady(initial);
    env.note(`${p.workers} workers ready`);

    const submitter = new Submitter({ retryForMs: p.retryForMs });
    const orderIds = Array.from({ length: p.jobs }, (_, i) => `c2-${String(i).padStart(4, '0')}`);
    const submissions = paced(orderIds, p.submitMs, 8, (orderId) => submitter.submit(env.main, orderId));

    const outage = { stoppedAfterMs: 0, downMs: 0, restartMs: 0, escalated: false, acknowledgedBefore: 0, downAt: 0, upAt: 0 };
    const restart = (async () => {
      await sleep(p.outageAtMs);
      outage.acknowledgedBefore = submitter.acknowledged.size;
      env.note(`SIGTERM to the dev server (pid ${env.server.pid}) with ${outage.acknowledgedBefore} submissions acknowledged`);
      const stopping = Date.now();
      outage.downAt = stopping;
      outage.escalated = (await env.server.stop()).escalated;
      outage.stoppedAfterMs = Date.now() - stopping;
      env.note(`dev server exited after ${outage.stoppedAfterMs} ms${outage.escalated ? ' (needed SIGKILL)' : ''}`);
      await sleep(p.downMs);
      const starting = Date.now();
      await env.server.start();
      outage.upAt = Date.now();
      outage.restartMs = outage.upAt - starting;
      outage.downMs = Date.now() - stopping;
      env.note(`dev server restarted on ${env.server.address} (pid ${env.server.pid}) after ${outage.downMs} ms down`);
    })();
    await Promise.all([submissions, restart]);
    // Submissions sent before the server was back and acknowledged after it went down: the outage held them up.
    const heldUp = submitter.timings.filter((t) => t.sentAt < outage.upAt && (t.acknowledgedAt ?? Infinity) > outage.downAt).length;
    env.note(`submissions done: ${submitter.acknowledged.size} acknowledged, ${submitter.retried} retried after ${submitter.errorCount} errors`);
    const dead = p.workers - env.workers.live().length;
    if (dead > 0) env.note(`${dead} worker(s) died during the outage; starting replacements`);
    if (dead > 0) env.workers.start(dead);
    await env.workers.waitReady(env.workers.live());
    env.note('workers polling again');

    const checks = async (shared: SharedCheck): Promise<InvariantResult[]> => {
      const lost: string[] = [];
      for (const jobId of submitter.acknowledged.keys()) {
        const o = shared.jobs.get(jobId);
        const terminal = o?.found && o.workflowStatus !== 'RUNNING' && isTerminal(o.jobStatus ?? '');
        if (!terminal) lost.push(`${jobId}: ${o?.found ? `${o.workflowStatus}/${o.jobStatus}` : 'not in Temporal'}`);
      }
      return [
        {
          name: 'no-acknowledged-submission-lost',
          ok: lost.length === 0 && submitter.acknowledged.size > 0,
          detail: lost.length === 0 ? `all ${submitter.acknowledged.size} acknowledged jobs exist in Temporal and ended terminal` : `${lost.length} lost or not terminal: ${lost.slice(0, 5).join('; ')}`,
        },
        {
          name: 'every-submission-acknowledged',
          ok: submitter.unacknowledged.length === 0,
          detail: `${submitter.acknowledged.size} of ${p.jobs} acknowledged; ${submitter.retried} retried after errors (${Object.entries(submitter.errorSummary()).slice(0, 3).map(([e, n]) => `${n}× ${e}`).join('; ') || 'none'})${submitter.unacknowledged.length ? `; given up: ${submitter.unacknowledged.slice(0, 3).map((u) => u.orderId).join(', ')}` : ''}`,
        },
        {
          name: 'outage-hit-the-workload',
          ok: outage.downMs >= p.downMs && heldUp > 0,
          detail: `server down ${outage.downMs} ms (SIGTERM exit ${outage.stoppedAfterMs} ms, restart ${outage.restartMs} ms); ${heldUp} submissions were in flight across the outage; ${submitter.retried} failed at least once and were retried by the driver`,
        },
      ];
    };

    return {
      workload: `${p.jobs} order.fulfill jobs over ${p.submitMs / 1000} s, ${p.workers} workers`,
      faults: `dev server SIGTERM at ${p.outageAtMs / 1000} s, down ${(outage.downMs / 1000).toFixed(1)} s, restarted on the same DB file and ports`,
      accepted: [...submitter.acknowledged.keys()],
      observed: {
        submitted: p.jobs,
        acknowledged: submitter.acknowledged.size,
        acknowledgedBeforeOutage: outage.acknowledgedBefore,
        heldUpByOutage: heldUp,
        retriedSubmissions: submitter.retried,
        submissionErrors: submitter.errorCount,
        deduplicatedAnswers: [...submitter.acknowledged.values()].filter((answers) => answers.some((a) => a.deduplicated)).length,
        serverExitMs: outage.stoppedAfterMs,
        serverDownMs: outage.downMs,
        serverRestartMs: outage.restartMs,
        unexpectedWorkerExits: env.workers.unexpectedExits,
      },
      expectAllCompleted: true,
      checks,
    };
  },
};
