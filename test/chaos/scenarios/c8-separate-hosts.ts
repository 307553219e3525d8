/**
 * C8, three hosts that share nothing but the Temporal server and a PostgreSQL ledger. Three worker
 * processes run in working directories of their own, with the ledger and the circuit breakers in
 * PostgreSQL (no SQLite file anywhere); the driver submits the orders as a fourth process, and a
 * fifth (`jobledger submit`) resubmits orders the driver submitted: the ledger's dedupe must answer it,
 * though it never saw those submissions. Two workers are SIGKILLed during the run and replaced. The
 * shared invariants then require every job Completed, every effect exactly once with its step's key,
 * and `reconcile` clean.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../devserver';
import type { ChaosEnv } from '../env';
import type { ChaosScenario, InvariantResult } from '../scenario';
import { ORDER_TYPE, Submitter, orderInput, paced, sleep } from '../workload';

type C8Params = {
  /** Orders submitted by the driver. */
  jobs: number;
  /** Worker processes (hosts) kept running. */
  workers: number;
  /** Worker SIGKILLs in all, spread over the submissions. */
  kills: number;
  /** Orders the second submitting process sends again. */
  resubmitted: number;
  /** How long the submissions take. */
  submitMs: number;
  settleMs: number;
};

/** One `jobledger submit` process as another host: its exit code and its JSON answer. */
async function submitFromAnotherProcess(env: ChaosEnv, orderId: string): Promise<{ code: number | null; deduplicated?: boolean; error?: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'client/cli.ts', 'submit', ORDER_TYPE, '--input', JSON.stringify(orderInput(orderId)), '--json'], {
    cwd: ROOT,
    env: env.cliEnv('chaos-second-host'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const answer = JSON.parse(out) as { deduplicated?: boolean };
    return { code, ...(answer.deduplicated !== undefined && { deduplicated: answer.deduplicated }) };
  } catch {
    return { code, error: (err || out).trim().slice(0, 200) };
  }
}

/** Files named like a SQLite ledger or breaker store anywhere under `dir`. */
function sqliteFilesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((path) => /(^|\/)(ledger|breakers)\.db/.test(path)).map((path) => join(dir, path));
}

export const c8SeparateHosts: ChaosScenario<C8Params> = {
  id: 'C8',
  title: 'three worker hosts and two submitting processes sharing only Temporal and a PostgreSQL ledger, two workers SIGKILLed',
  hosts: 'separate',
  full: { jobs: 300, workers: 3, kills: 2, resubmitted: 20, submitMs: 30_000, settleMs: 240_000 },
  smoke: { jobs: 40, workers: 3, kills: 2, resubmitted: 5, submitMs: 8_000, settleMs: 120_000 },

  async run(env, p) {
    const initial = env.workers.start(p.workers);
    await env.workers.waitReady(initial);
    env.note(`${p.workers} worker hosts ready, ledger and breakers in PostgreSQL`);

    const submitter = new Submitter();
    const orderIds = Array.from({ length: p.jobs }, (_, i) => `c8-${String(i).padStart(4, '0')}`);
    const submissions = paced(orderIds, p.submitMs, 16, (orderId) => submitter.submit(env.main, orderId));

    let kills = 0;
    for (let k = 0; k < p.kills; k++) {
      await sleep(Math.floor(p.submitMs / (p.kills + 1)));
      const live = env.workers.live();
      const victim = live[Math.floor(env.random() * live.length)];
      if (!victim) continue;
      await env.workers.kill(victim);
      kills += 1;
      env.note(`SIGKILL ${victim.identity} (pid ${victim.process.pid})`);
      const [replacement] = env.workers.start(1);
      env.note(`started ${replacement!.identity} in a directory of its own`);
    }
    await submissions;
    env.note(`submissions done: ${submitter.acknowledged.size} acknowledged`);

    // Another process, which never saw these submissions, submits some of them again.
    const again = [...submitter.acknowledged.keys()].slice(0, p.resubmitted).map((jobId) => jobId.slice(jobId.indexOf(':') + 1));
    const answers = await Promise.all(again.map((orderId) => submitFromAnotherProcess(env, orderId)));
    const dedupedByOther = answers.filter((a) => a.code === 0 && a.deduplicated === true).length;
    env.note(`a second submitting process resubmitted ${again.length} orders: ${dedupedByOther} deduplicated`);
    await env.workers.waitReady(env.workers.live());

    const checks = async (): Promise<InvariantResult[]> => {
      const sqlite = sqliteFilesUnder(env.dir);
      const hosts = readdirSync(join(env.dir, 'hosts'));
      const notDeduped = answers.filter((a) => !(a.code === 0 && a.deduplicated === true));
      return [
        {
          name: 'workers-killed',
          ok: kills === p.kills,
          detail: `${kills} of ${p.kills} planned SIGKILLs, ${env.workers.started} worker processes started in all`,
        },
        {
          name: 'hosts-share-no-file',
          ok: sqlite.length === 0 && hosts.length === env.workers.started,
          detail: sqlite.length === 0
            ? `${hosts.length} worker directories (one per process); no ledger or breaker file anywhere: both are in PostgreSQL`
            : `SQLite stores found: ${sqlite.join(', ')}`,
        },
        {
          name: 'dedupe-across-processes',
          ok: notDeduped.length === 0 && answers.length === p.resubmitted,
          detail: notDeduped.length === 0
            ? `all ${answers.length} resubmissions from a second process were answered deduplicated`
            : `${notDeduped.length} were not: ${notDeduped.slice(0, 3).map((a) => `exit ${a.code} ${a.error ?? `deduplicated=${a.deduplicated}`}`).join('; ')}`,
        },
        {
          name: 'every-submission-acknowledged',
          ok: submitter.unacknowledged.length === 0,
          detail: `${submitter.acknowledged.size} of ${p.jobs} acknowledged`,
        },
      ];
    };

    return {
      workload: `${p.jobs} order.fulfill jobs over ${(p.submitMs / 1000).toFixed(0)} s from the driver, ${again.length} resubmitted from a second process, ${p.workers} worker hosts, ledger and breakers in PostgreSQL`,
      faults: `${kills} worker SIGKILLs`,
      accepted: [...submitter.acknowledged.keys()],
      observed: {
        submitted: p.jobs,
        acknowledged: submitter.acknowledged.size,
        kills,
        resubmitted: again.length,
        dedupedByOther,
        workersStarted: env.workers.started,
        unexpectedWorkerExits: env.workers.unexpectedExits,
      },
      expectAllCompleted: true,
      checks,
    };
  },
};
