/**
 * C1, workers SIGKILLed at random. Orders are submitted evenly while, every 2-4 s, one worker process is
 * killed and a new one started. Some kills are aimed at the worst moment: the payments provider is
 * slowed after it applies a charge (`delayAfterApplyMs`), and the worker whose attempt holds that
 * charge step IN_PROGRESS in the ledger is killed, so the effect exists but its completion was never
 * recorded. The retried step must send the same Idempotency-Key and get the provider's stored answer:
 * still exactly one charge.
 */
import { jobIdFor } from '../../../common/constants';
import { StepState, stepKey } from '../../../ledger';
import type { ChaosEnv } from '../env';
import type { ChaosScenario, InvariantResult } from '../scenario';
import type { PoolWorker } from '../workers';
import { ORDER_TYPE, Submitter, paced, sleep } from '../workload';

type C1Params = {
  /** Orders submitted. */
  jobs: number;
  /** Worker processes kept running. */
  workers: number;
  /** Worker SIGKILLs in all. */
  kills: number;
  /** Of those, kills between an applied charge and its ledger completion. */
  targetedKills: number;
  /** Gap between kills: a random value in [minGapMs, maxGapMs]. */
  minGapMs: number;
  maxGapMs: number;
  /** The payments provider's delay after applying a charge, during an aimed kill (below the step's 5 s HTTP timeout). */
  applyDelayMs: number;
  /** How long the jobs get to settle afterwards. */
  settleMs: number;
};

/** A kill aimed between an applied charge and its ledger completion, confirmed by the ledger after the kill. */
interface AimedKill {
  jobId: string;
  stepKey: string;
  worker: string;
}

/**
 * Slows the payments provider after each applied charge, waits for a charge whose ledger step is still
 * IN_PROGRESS, and SIGKILLs the worker holding it. Returns the killed worker, and the aimed kill if the
 * ledger still showed the step IN_PROGRESS under that worker after it died.
 */
async function killBetweenApplyAndCompletion(env: ChaosEnv, applyDelayMs: number): Promise<{ worker?: PoolWorker; aimed?: AimedKill }> {
  const payments = env.sandbox.payments;
  const seen = new Set(payments.listEffects({ kind: 'charge' }).map((e) => e.seq));
  payments.setFaults({ delayAfterApplyMs: applyDelayMs });
  try {
    const deadline = Date.now() + applyDelayMs + 15_000;
    while (Date.now() < deadline) {
      for (const effect of payments.listEffects({ kind: 'charge' })) {
        if (seen.has(effect.seq) || effect.orderId === null) continue;
        // The ledger key the charge step must hold (not the effect's own key, which a defect could change).
        const key = stepKey(jobIdFor(ORDER_TYPE, effect.orderId), 'charge-payment');
        const step = await env.main.ledger.getStep(key);
        if (step?.state !== StepState.IN_PROGRESS) {
          seen.add(effect.seq);
          continue;
        }
        const worker = env.workers.live().find((w) => w.identity === step.owner);
        if (!worker) continue;
        await env.workers.kill(worker);
        const after = await env.main.ledger.getStep(key);
        if (after?.state === StepState.IN_PROGRESS && after.owner === worker.identity) {
          return { worker, aimed: { jobId: step.jobId, stepKey: key, worker: worker.identity } };
        }
        return { worker }; // the completion won the race: an ordinary kill
      }
      await sleep(50);
    }
    return {};
  } finally {
    payments.setFaults({});
  }
}

export const c1WorkerKills: ChaosScenario<C1Params> = {
  id: 'C1',
  title: 'workers SIGKILLed at random, also between an applied charge and its ledger completion',
  full: { jobs: 200, workers: 3, kills: 12, targetedKills: 4, minGapMs: 2_000, maxGapMs: 4_000, applyDelayMs: 3_000, settleMs: 240_000 },
  smoke: { jobs: 30, workers: 2, kills: 2, targetedKills: 1, minGapMs: 2_000, maxGapMs: 4_000, applyDelayMs: 3_000, settleMs: 120_000 },

  async run(env, p) {
    const initial = env.workers.start(p.workers);
    await env.workers.waitReady(initial);
    env.note(`${p.workers} workers ready`);

    const submitter = new Submitter();
    const orderIds = Array.from({ length: p.jobs }, (_, i) => `c1-${String(i).padStart(4, '0')}`);
    const submitMs = Math.max(5_000, (p.kills * (p.minGapMs + p.maxGapMs)) / 2);
    const submissions = paced(orderIds, submitMs, 16, (orderId) => submitter.submit(env.main, orderId));

    const aimed: AimedKill[] = [];
    let kills = 0;
    let aimedMissed = 0;
    const spacing = Math.max(1, Math.floor(p.kills / Math.max(1, p.targetedKills)));
    for (let k = 0; k < p.kills; k++) {
      await sleep(env.between(p.minGapMs, p.maxGapMs));
      const aimedLeft = p.targetedKills - aimed.length;
      let victim: PoolWorker | undefined;
      if (aimedLeft > 0 && (k % spacing === 0 || p.kills - k <= aimedLeft)) {
        const shot = await killBetweenApplyAndCompletion(env, p.applyDelayMs);
        victim = shot.worker;
        if (shot.aimed) {
          aimed.push(shot.aimed);
          env.note(`SIGKILL ${shot.aimed.worker} holding ${shot.aimed.stepKey} IN_PROGRESS after the charge was applied`);
        } else {
          aimedMissed += 1;
          env.note(victim ? `SIGKILL ${victim.identity}: aimed, but the step completed first` : 'no charge in flight for an aimed kill');
        }
      }
      if (!victim) {
        const live = env.workers.live();
        victim = live[Math.floor(env.random() * live.length)];
        if (victim) {
          await env.workers.kill(victim);
          env.note(`SIGKILL ${victim.identity} (pid ${victim.process.pid})`);
        }
      }
      if (victim) kills += 1;
      const [replacement] = env.workers.start(1);
      env.note(`started ${replacement!.identity}`);
    }
    await submissions;
    env.note(`submissions done: ${submitter.acknowledged.size} acknowledged`);
    await env.workers.waitReady(env.workers.live());

    const checks = async (): Promise<InvariantResult[]> => {
      const problems: string[] = [];
      for (const a of aimed) {
        const orderId = a.jobId.slice(a.jobId.indexOf(':') + 1);
        const charges = env.sandbox.payments.listEffects({ kind: 'charge', orderId }).length;
        const calls = env.sandbox.payments.listCalls().filter((c) => c.path === '/charges' && c.idempotencyKey?.startsWith(a.stepKey));
        const step = await env.main.ledger.getStep(a.stepKey);
        if (charges !== 1) problems.push(`${a.jobId}: ${charges} charges`);
        if (!calls.some((c) => c.replayed)) problems.push(`${a.jobId}: the retried charge was not answered from the provider's idempotency store (${calls.length} calls)`);
        if (step?.state !== StepState.COMPLETED || step.owner === a.worker) problems.push(`${a.jobId}: ledger step ${step?.state ?? 'absent'} owned by ${step?.owner ?? '-'}`);
      }
      return [
        {
          name: 'workers-killed',
          ok: kills === p.kills && aimed.length >= p.targetedKills,
          detail: `${kills} of ${p.kills} planned SIGKILLs, ${aimed.length} of ${p.targetedKills} between an applied charge and its ledger completion (${aimedMissed} aimed attempts missed)`,
        },
        {
          name: 'aimed-kills-recovered',
          ok: problems.length === 0 && aimed.length > 0,
          detail: problems.length === 0
            ? `${aimed.length} job(s) killed after the charge was applied: each has one charge, the retry was replayed by the provider and another worker completed the ledger step`
            : problems.join('; '),
        },
        {
          name: 'every-submission-acknowledged',
          ok: submitter.unacknowledged.length === 0,
          detail: `${submitter.acknowledged.size} of ${p.jobs} acknowledged${submitter.unacknowledged.length ? `; not: ${submitter.unacknowledged.slice(0, 3).map((u) => `${u.orderId} (${u.error})`).join('; ')}` : ''}`,
        },
      ];
    };

    return {
      workload: `${p.jobs} order.fulfill jobs over ${(submitMs / 1000).toFixed(0)} s, ${p.workers} workers`,
      faults: `${kills} worker SIGKILLs every ${p.minGapMs / 1000}-${p.maxGapMs / 1000} s, ${aimed.length} between an applied charge and its ledger completion (payments delayAfterApplyMs ${p.applyDelayMs})`,
      accepted: [...submitter.acknowledged.keys()],
      observed: {
        submitted: p.jobs,
        acknowledged: submitter.acknowledged.size,
        submissionErrors: submitter.errorCount,
        kills,
        aimedKills: aimed.length,
        aimedMissed,
        workersStarted: env.workers.started,
        unexpectedWorkerExits: env.workers.unexpectedExits,
      },
      expectAllCompleted: true,
      checks,
    };
  },
};
