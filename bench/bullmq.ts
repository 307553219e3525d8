/**
 * Scenario b6: BullMQ as the peer. The same three-step job (bench/peer-effects.ts) runs through jobledger
 * (a Temporal dev server, jobledger worker processes on a SQLite ledger: bench/peer-jobs.ts) and through
 * BullMQ (Debian's redis-server started here, bench/redis.ts; BullMQ worker processes:
 * bench/peer-bullmq-worker.ts), each job submitted under its own id so a resubmission is deduplicated
 * (jobledger's idempotency key; BullMQ's `jobId`). Every step applies one effect to the bench's effect
 * store, which counts calls and applied effects per (job, step).
 *
 * Throughput: one worker process per side; a warm-up of `jobs / 2` jobs per side, then `rounds` interleaved
 * rounds of `jobs` jobs per side (submitted 20 at a time, each awaited to its end); jobs per second and submit-to-end latency per round, and the median of
 * the per-round ratio jobledger / BullMQ. After each round, 10 of its jobs are submitted again on each side:
 * they must start nothing (every step of every job applied exactly once).
 *
 * Kills: two worker processes per side. `kills` times, at least KILL_INTERVAL_MS apart, a job is submitted
 * beside `load` others and the store holds its answer to that job's step k mod 3 (reserve, charge, notify)
 * just after applying the effect; the worker that made the call is killed with SIGKILL right then, and a
 * replacement is started.
 * Whatever else the killed worker was running dies with it, wherever it was. Once every job has ended,
 * the applied effects per step are counted. Writes artifacts/bench/b6.json.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { JobClient } from '../client/jobs';
import { jobIdFor } from '../common/constants';
import { serviceVariable } from '../core/config';
import { JobRegistry } from '../jobs/registry';
import { openLedger } from '../ledger';
import { line, startProcess, stopStarted, until, workerStarted, type Proc } from '../test/helpers/process';
import { startDevServer, tempDir, testLogger, unique } from '../test/helpers/servers';
import { envInt, interleaved, latency, median, pool, round, writeResult, type BenchSummary, type Latency } from './lib';
import { EFFECTS_SERVICE, PEER_STEPS, startEffectStore, type EffectStore } from './peer-effects';
import { PEER_QUEUE, peerWorkerOptions } from './peer-bullmq-worker';
import { peerJob } from './peer-jobs';
import { startRedis } from './redis';

export interface BullmqBenchOptions {
  /** Interleaved throughput rounds. Default 3 (or env BENCH_B6_ROUNDS). */
  rounds?: number;
  /** Jobs per side per round. Default 200 (or env BENCH_B6_JOBS). */
  jobs?: number;
  /** SIGKILLs per side. Default 50 (or env BENCH_B6_KILLS). */
  kills?: number;
  /** Jobs submitted beside each killed one. Default 4 (or env BENCH_B6_KILL_LOAD). */
  load?: number;
}

type Side = 'jobledger' | 'bullmq';
const SIDES: readonly Side[] = ['jobledger', 'bullmq'];

/** Submissions in flight at once, on both sides. */
const SUBMITTERS = 20;
/** How long the store holds a killed step's answer: far longer than the kill takes. */
const HOLD_MS = 1_000;
/** How long every job of the kill phase gets to end after the last kill. */
const SETTLE_MS = 180_000;
/**
 * The least time from one kill to the next, on both sides: the denser the kills, the more often a recovered
 * job is killed again, so both sides get the same pace (jobledger's loop needs about this much anyway).
 */
const KILL_INTERVAL_MS = 2_000;

interface RoundFigures {
  jobs: number;
  seconds: number;
  jobsPerSec: number;
  latency: Latency;
  /** CPU seconds per 100 jobs, by process: the server (Temporal's dev server, or redis-server), the worker, the bench (clients and effect store). */
  cpuPer100Jobs: { server: number; worker: number; bench: number };
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) process `pid` has used so far, from /proc/<pid>/stat; 0 once it is gone, NaN for no pid. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** The Temporal dev server the SDK started: this process's child running `server start-dev` (undefined: not found). */
function devServerPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('start-dev')) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** What the processes of one side used while `work` ran. */
async function measuredCpu<T>(pids: { server: number | undefined; worker: number }, work: () => Promise<T>): Promise<{ value: T; cpu: { server: number; worker: number; bench: number } }> {
  const benchSeconds = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const before = { server: cpuSeconds(pids.server), worker: cpuSeconds(pids.worker), bench: benchSeconds() };
  const value = await work();
  return { value, cpu: { server: cpuSeconds(pids.server) - before.server, worker: cpuSeconds(pids.worker) - before.worker, bench: benchSeconds() - before.bench } };
}

/** Applied effects of one step over a set of jobs. */
interface StepTally {
  step: string;
  /** Calls the store received (attempts that reached it). */
  calls: number;
  /** Effects applied. */
  applied: number;
  /** Jobs whose step was applied more than once, and the applications beyond the first. */
  jobsDuplicated: number;
  duplicateEffects: number;
  /** Jobs whose step was never applied. */
  jobsMissing: number;
}

interface KillFigures {
  kills: number;
  jobs: number;
  /** Jobs the system itself reported as recovered from a dead worker (BullMQ's `stalled` events); jobledger: null. */
  recoveries: number | null;
  ended: { completed: number; failed: number; unfinished: number };
  seconds: number;
  steps: StepTally[];
  duplicateEffects: number;
}

/** A side of the comparison: its submission, its workers, its way of waiting for a job's end. */
interface Peer {
  /** Submits a job under `id`; returns the id its effects are counted under and a promise of its end. */
  submit(id: string): Promise<{ jobId: string; ended: Promise<boolean> }>;
  /** Submits `id` again; true if the system started nothing new. */
  resubmit(id: string): Promise<boolean>;
  /** The job id `submit(id)` will use, known before the submission (the kill is armed before it). */
  jobIdOf(id: string): string;
  startWorker(): Proc;
  ready(proc: Proc): Promise<void>;
  /** The PID of the side's server: Temporal's dev server, or redis-server (undefined: not found, its CPU not measured). */
  serverPid: number | undefined;
  /** Recoveries the system reported so far, where it reports them. */
  recoveries(): number | null;
}

/** `promise`'s value, or undefined if it has not settled within `ms`; the timer never outlives the race. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function tally(store: EffectStore, jobIds: readonly string[]): StepTally[] {
  const counts = store.counts();
  return PEER_STEPS.map((step) => {
    const t: StepTally = { step, calls: 0, applied: 0, jobsDuplicated: 0, duplicateEffects: 0, jobsMissing: 0 };
    for (const jobId of jobIds) {
      const c = counts.get(jobId)?.get(step) ?? { calls: 0, applied: 0 };
      t.calls += c.calls;
      t.applied += c.applied;
      if (c.applied > 1) {
        t.jobsDuplicated += 1;
        t.duplicateEffects += c.applied - 1;
      }
      if (c.applied === 0) t.jobsMissing += 1;
    }
    return t;
  });
}

async function throughputRound(peer: Peer, prefix: string, jobs: number): Promise<Omit<RoundFigures, 'cpuPer100Jobs'> & { jobIds: string[] }> {
  const latencies: number[] = [];
  const ends: Promise<void>[] = [];
  const jobIds: string[] = [];
  const started = performance.now();
  await pool(jobs, SUBMITTERS, async (i) => {
    const t0 = performance.now();
    const { jobId, ended } = await peer.submit(`${prefix}-${i}`);
    jobIds.push(jobId);
    ends.push(
      ended.then((ok) => {
        if (!ok) throw new Error(`job ${jobId} did not complete`);
        latencies.push(performance.now() - t0);
      }),
    );
  });
  await Promise.all(ends);
  const seconds = (performance.now() - started) / 1000;
  return { jobs, seconds: round(seconds, 2), jobsPerSec: round(jobs / seconds), latency: latency(latencies, 1), jobIds };
}

async function killRun(peer: Peer, store: EffectStore, prefix: string, kills: number, load: number): Promise<KillFigures> {
  const live = new Set<ChildProcess>();
  const start = () => {
    const proc = peer.startWorker();
    live.add(proc.child);
    void proc.ended.then(() => live.delete(proc.child));
    return proc;
  };
  await Promise.all([start(), start()].map((p) => peer.ready(p)));
  const jobIds: string[] = [];
  const ends: Promise<boolean>[] = [];
  const submit = async (id: string) => {
    const { jobId, ended } = await peer.submit(id);
    jobIds.push(jobId);
    ends.push(ended);
  };
  const began = performance.now();
  const recoveredBefore = peer.recoveries();
  for (let k = 0; k < kills; k++) {
    const paced = new Promise((r) => setTimeout(r, KILL_INTERVAL_MS));
    const id = `${prefix}-${k}`;
    const step = PEER_STEPS[k % PEER_STEPS.length]!;
    const held = peer.jobIdOf(id);
    const inStep = store.holdNext(held, step, HOLD_MS);
    await Promise.all([submit(id), ...Array.from({ length: load }, (_, j) => submit(`${id}-load-${j}`))]);
    const call = await within(inStep, 120_000);
    if (!call) throw new Error(`${held} never reached ${step} within 120 s`);
    const victim = [...live].find((child) => child.pid === call.workerPid);
    if (!victim) throw new Error(`${held}/${step} was called by pid ${call.workerPid}, not one of this side's workers`);
    const exited = new Promise((r) => victim.once('exit', r));
    victim.kill('SIGKILL');
    await exited;
    start();
    await paced;
  }
  const settled = await Promise.all(ends.map((e) => within(e, SETTLE_MS)));
  const seconds = (performance.now() - began) / 1000;
  const steps = tally(store, jobIds);
  const recoveredAfter = peer.recoveries();
  return {
    kills,
    jobs: jobIds.length,
    recoveries: recoveredAfter === null || recoveredBefore === null ? null : recoveredAfter - recoveredBefore,
    ended: { completed: settled.filter((s) => s === true).length, failed: settled.filter((s) => s === false).length, unfinished: settled.filter((s) => s === undefined).length },
    seconds: round(seconds, 1),
    steps,
    duplicateEffects: steps.reduce((s, t) => s + t.duplicateEffects, 0),
  };
}

export async function runBullmqBench(options: BullmqBenchOptions = {}): Promise<BenchSummary> {
  const rounds = options.rounds ?? envInt('BENCH_B6_ROUNDS', 3);
  const jobs = options.jobs ?? envInt('BENCH_B6_JOBS', 200);
  const kills = options.kills ?? envInt('BENCH_B6_KILLS', 50);
  const load = options.load ?? envInt('BENCH_B6_KILL_LOAD', 4);
  const run = unique('b6');

  const redis = await startRedis();
  const store = await startEffectStore();
  const env = await startDevServer();
  const dir = tempDir('jobledger-b6-');
  const ledgerPath = join(dir, 'ledger.db');
  const ledger = openLedger(ledgerPath);
  const connection = peerWorkerOptions(redis.port).connection;
  const queue = new Queue(PEER_QUEUE, { connection });
  const queueEvents = new QueueEvents(PEER_QUEUE, { connection });
  try {
    await queueEvents.waitUntilReady();
    const taskQueue = `${run}-tq`;
    const jobClient = new JobClient({ client: env.client, registry: new JobRegistry([peerJob]), ledger, taskQueue, logger: testLogger(), submittedBy: 'bench-b6' });
    const effectsUrl = { [serviceVariable(EFFECTS_SERVICE)]: store.url };

    const jobledger: Peer = {
      serverPid: devServerPid(),
      jobIdOf: (id) => jobIdFor(peerJob.type, id),
      submit: async (id) => {
        const { jobId } = await jobClient.submit(peerJob, { id });
        return { jobId, ended: jobClient.outcome(jobId).then((o) => o.status === 'Completed') };
      },
      resubmit: async (id) => (await jobClient.submit(peerJob, { id })).deduplicated,
      startWorker: () =>
        startProcess(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
          ...effectsUrl,
          TEMPORAL_ADDRESS: env.address,
          JOBLEDGER_JOBS_MODULE: 'bench/peer-jobs.ts',
          JOBLEDGER_TASK_QUEUE: taskQueue,
          JOBLEDGER_LEDGER_PATH: ledgerPath,
          JOBLEDGER_BREAKER_PATH: join(dir, 'breakers.db'),
          JOBLEDGER_METRICS_PORT: '0',
          LOG_LEVEL: 'info',
        }),
      ready: async (proc) => {
        await workerStarted(proc);
      },
      recoveries: () => null,
    };

    const waiters = new Map<string, (ok: boolean) => void>();
    queueEvents.on('completed', ({ jobId }) => waiters.get(jobId)?.(true));
    queueEvents.on('failed', ({ jobId }) => waiters.get(jobId)?.(false));
    let stalled = 0;
    queueEvents.on('stalled', () => (stalled += 1));
    const bullmq: Peer = {
      serverPid: redis.pid,
      jobIdOf: (id) => id,
      submit: async (id) => {
        const ended = new Promise<boolean>((resolve) => waiters.set(id, resolve));
        const job = await queue.add(PEER_QUEUE, { id }, { jobId: id });
        return { jobId: job.id!, ended };
      },
      resubmit: async (id) => {
        const before = await queue.getJobCounts();
        const job = await queue.add(PEER_QUEUE, { id }, { jobId: id });
        const after = await queue.getJobCounts();
        return job.id === id && after.waiting === before.waiting && after.active === before.active;
      },
      startWorker: () =>
        startProcess(process.execPath, ['--import', 'tsx', 'bench/peer-bullmq-worker.ts'], { ...effectsUrl, BENCH_REDIS_PORT: String(redis.port) }),
      ready: async (proc) => {
        await until('bullmq worker started', () => line(proc, 'bullmq worker started'), 60_000);
      },
      recoveries: () => stalled,
    };
    const peers: Record<Side, Peer> = { jobledger, bullmq };

    // Throughput: one worker per side, a warm-up round, then interleaved rounds.
    console.log(`b6: redis ${redis.version}; ${rounds} rounds of ${jobs} jobs per side, then ${kills} kills per side`);
    const throughputWorkers = SIDES.map((side) => ({ side, proc: peers[side].startWorker() }));
    await Promise.all(throughputWorkers.map(({ side, proc }) => peers[side].ready(proc)));
    for (const side of SIDES) await throughputRound(peers[side], `${run}-warm-${side}`, Math.ceil(jobs / 2));
    const throughputJobs: Record<Side, string[]> = { jobledger: [], bullmq: [] };
    let dedupedAll = true;
    const perRound = await interleaved(rounds, {
      jobledger: (r) => measured('jobledger', r),
      bullmq: (r) => measured('bullmq', r),
    });
    async function measured(side: Side, r: number): Promise<RoundFigures> {
      const prefix = `${run}-r${r}-${side}`;
      const worker = throughputWorkers.find((w) => w.side === side)!.proc.child.pid!;
      const { value, cpu } = await measuredCpu({ server: peers[side].serverPid, worker }, () => throughputRound(peers[side], prefix, jobs));
      const { jobIds, ...timed } = value;
      const per100 = (seconds: number) => round((seconds * 100) / jobs, 2);
      const figures: RoundFigures = { ...timed, cpuPer100Jobs: { server: per100(cpu.server), worker: per100(cpu.worker), bench: per100(cpu.bench) } };
      throughputJobs[side].push(...jobIds);
      for (let i = 0; i < 10; i++) dedupedAll = (await peers[side].resubmit(`${prefix}-${i}`)) && dedupedAll;
      const c = figures.cpuPer100Jobs;
      console.log(`  round ${r + 1} ${side}: ${figures.jobsPerSec} jobs/s, p50 ${figures.latency.p50Ms} ms, p99 ${figures.latency.p99Ms} ms; CPU s per 100 jobs: server ${c.server}, worker ${c.worker}, bench ${c.bench}`);
      return figures;
    }
    const ratios = perRound.map((r) => round(r.jobledger.jobsPerSec / r.bullmq.jobsPerSec, 3));
    const ratio = round(median(ratios), 3);
    for (const { proc } of throughputWorkers) {
      proc.child.kill('SIGTERM');
      await proc.ended;
    }
    // Every step of every throughput job applied exactly once, duplicates submitted included.
    const onceEach = SIDES.every((side) => tally(store, throughputJobs[side]).every((t) => t.applied === throughputJobs[side].length && t.calls === t.applied));

    // Kills.
    const killed = {} as Record<Side, KillFigures>;
    for (const side of SIDES) {
      killed[side] = await killRun(peers[side], store, `${run}-kill-${side}`, kills, load);
      await stopStarted();
      const k = killed[side];
      console.log(`  ${side}: ${k.kills} kills over ${k.jobs} jobs in ${k.seconds} s; ended ${JSON.stringify(k.ended)}${k.recoveries === null ? '' : `; ${k.recoveries} stalled jobs recovered`}`);
      for (const t of k.steps) console.log(`    ${t.step}: ${t.applied} applied (${t.calls} calls), ${t.duplicateEffects} duplicate effects in ${t.jobsDuplicated} jobs, ${t.jobsMissing} jobs missing it`);
    }

    const result = {
      scenario: 'b6',
      redis: redis.version,
      settings: { rounds, jobs, kills, load, submitters: SUBMITTERS, holdMs: HOLD_MS, killIntervalMs: KILL_INTERVAL_MS },
      throughput: { perRound, ratios, medianRatio: ratio, resubmissionsDeduplicated: dedupedAll, everyStepAppliedOnce: onceEach },
      kills: killed,
    };
    const file = writeResult('b6', result);
    const headline =
      `jobledger/BullMQ throughput ${ratio}× (median of ${ratios.join(', ')}); ` +
      `after ${kills} SIGKILLs each: duplicate effects jobledger ${killed.jobledger.duplicateEffects}, BullMQ ${killed.bullmq.duplicateEffects} ` +
      `(${SIDES.map((s) => `${s} ${killed[s].steps.map((t) => `${t.step} ${t.applied}/${killed[s].jobs}`).join(' ')}`).join('; ')})`;
    console.log(`b6: ${headline}`);
    if (!dedupedAll || !onceEach) console.log('b6: a resubmission started work again or a throughput step was applied other than once: see the JSON');
    return { headline, file };
  } finally {
    await stopStarted();
    await queueEvents.close();
    await queue.close();
    await ledger.close();
    await env.teardown();
    await store.stop();
    await redis.stop();
  }
}
