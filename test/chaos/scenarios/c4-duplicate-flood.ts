/**
 * C4, a flood of concurrent duplicates. For each key, many identical submissions are fired at the same
 * moment through several JobClients (each its own Temporal connection and ledger handle), several keys
 * at a time, while a worker is SIGKILLed part-way. Per key, exactly one submission starts a job and the
 * others are answered as duplicates; Temporal holds exactly one execution (one run) per key, and each
 * effect kind is applied once per key.
 */
import type { ConnectedJobClient } from '../../../client/connect';
import type { ChaosScenario, InvariantResult } from '../scenario';
import { ORDER_TYPE, Submitter, paced, sleep } from '../workload';

type C4Params = {
  /** Distinct idempotency keys (orders). */
  keys: number;
  /** Identical submissions per key, fired together. */
  duplicates: number;
  /** JobClients (connections) the submissions are spread over. */
  clients: number;
  /** Keys flooded at the same time. */
  parallelKeys: number;
  /** Worker processes. */
  workers: number;
  /** A worker is SIGKILLed once this many submissions are answered. */
  killAfterAnswers: number;
  /** How long the jobs get to settle afterwards. */
  settleMs: number;
};

export const c4DuplicateFlood: ChaosScenario<C4Params> = {
  id: 'C4',
  title: 'concurrent duplicate submissions from several clients, a worker killed during the flood',
  full: { keys: 100, duplicates: 20, clients: 4, parallelKeys: 10, workers: 2, killAfterAnswers: 600, settleMs: 180_000 },
  smoke: { keys: 10, duplicates: 10, clients: 2, parallelKeys: 5, workers: 2, killAfterAnswers: 30, settleMs: 120_000 },

  async run(env, p) {
    const initial = env.workers.start(p.workers);
    await env.workers.waitReady(initial);
    env.note(`${p.workers} workers ready`);
    const clients: ConnectedJobClient[] = [env.main];
    for (let i = 1; i < p.clients; i++) clients.push(await env.newJobClient());

    const submitter = new Submitter({ retryForMs: 30_000 });
    let answered = 0;
    let killed: Promise<void> | undefined;
    const killOne = async () => {
      const live = env.workers.live();
      const victim = live[Math.floor(env.random() * live.length)];
      if (!victim) return;
      await env.workers.kill(victim);
      env.note(`SIGKILL ${victim.identity} (pid ${victim.process.pid}) after ${answered} answers`);
      const [replacement] = env.workers.start(1);
      env.note(`started ${replacement!.identity}`);
    };
    const orderIds = Array.from({ length: p.keys }, (_, i) => `c4-${String(i).padStart(4, '0')}`);
    const submitStart = Date.now();
    await paced(orderIds, 0, p.parallelKeys, async (orderId, k) => {
      await Promise.all(
        Array.from({ length: p.duplicates }, async (_, d) => {
          await submitter.submit(clients[(k * p.duplicates + d) % clients.length]!, orderId);
          answered += 1;
          if (answered === p.killAfterAnswers) killed = killOne();
        }),
      );
    });
    const submitMs = Date.now() - submitStart;
    killed ??= killOne(); // fewer answers than the threshold: kill now, jobs are still running
    await killed;
    env.note(`${answered} submissions answered in ${submitMs} ms`);
    await env.workers.waitReady(env.workers.live());

    const answers = [...submitter.acknowledged.values()].flat();
    const startsPerJob = [...submitter.acknowledged].map(([jobId, list]) => [jobId, list.filter((a) => !a.deduplicated).length] as const);
    const started = answers.filter((a) => !a.deduplicated).length;
    const checks = async (): Promise<InvariantResult[]> => {
      const client = env.main.client;
      const query = `JobType = "${ORDER_TYPE}"`;
      for (let i = 0; i < 30 && (await client.workflow.count(query)).count < p.keys; i++) await sleep(500);
      const runs = new Map<string, number>();
      for await (const execution of client.workflow.list({ query })) runs.set(execution.workflowId, (runs.get(execution.workflowId) ?? 0) + 1);
      const executions = [...runs.values()].reduce((a, b) => a + b, 0);
      const extraRuns = [...runs].filter(([, n]) => n > 1).map(([id, n]) => `${id}: ${n} runs`);
      const unexpected = [...runs.keys()].filter((id) => !submitter.acknowledged.has(id));
      const kinds = ['reserve', 'charge', 'email'].map((kind) => {
        const provider = kind === 'charge' ? env.sandbox.payments : kind === 'reserve' ? env.sandbox.inventory : env.sandbox.email;
        return [kind, provider.listEffects({ kind }).length] as const;
      });
      const badKeys = startsPerJob.filter(([, n]) => n !== 1);
      return [
        {
          name: 'one-execution-per-key',
          ok: runs.size === p.keys && executions === p.keys && extraRuns.length === 0 && unexpected.length === 0,
          detail: `${executions} executions of ${runs.size} workflow ids for ${p.keys} keys${extraRuns.length ? `; several runs: ${extraRuns.slice(0, 5).join(', ')}` : ''}${unexpected.length ? `; unexpected ids: ${unexpected.slice(0, 5).join(', ')}` : ''}`,
        },
        {
          name: 'one-start-per-key',
          ok: submitter.acknowledged.size === p.keys && badKeys.length === 0 && answers.length === p.keys * p.duplicates,
          detail: `${answers.length} of ${p.keys * p.duplicates} submissions acknowledged; ${started} started a job, ${answers.length - started} were answered as duplicates${badKeys.length ? `; keys with other than one start: ${badKeys.slice(0, 5).map(([k, n]) => `${k} ${n}`).join(', ')}` : ''}`,
        },
        {
          name: 'duplicates-answered-without-error',
          ok: submitter.errorCount === 0 && submitter.unacknowledged.length === 0,
          detail: submitter.errorCount === 0
            ? `all ${answered} submissions answered at the first attempt`
            : `${submitter.errorCount} failed attempt(s): ${Object.entries(submitter.errorSummary()).slice(0, 3).map(([e, n]) => `${n}× ${e}`).join('; ')}`,
        },
        {
          name: 'effects-per-kind',
          ok: kinds.every(([, n]) => n === p.keys),
          detail: `${kinds.map(([kind, n]) => `${kind} ${n}`).join(', ')} for ${p.keys} keys`,
        },
      ];
    };

    return {
      workload: `${p.keys} keys × ${p.duplicates} identical submissions (${p.keys * p.duplicates}) over ${p.clients} JobClients, ${p.parallelKeys} keys at a time, ${p.workers} workers`,
      faults: `1 worker SIGKILL after ${Math.min(answered, p.killAfterAnswers)} answers`,
      accepted: [...submitter.acknowledged.keys()],
      observed: {
        submissions: p.keys * p.duplicates,
        answered,
        acknowledged: answers.length,
        started,
        deduplicated: answers.length - started,
        submissionErrors: submitter.errorCount,
        submitMs,
        workersStarted: env.workers.started,
        unexpectedWorkerExits: env.workers.unexpectedExits,
      },
      expectAllCompleted: true,
      checks,
    };
  },
};
