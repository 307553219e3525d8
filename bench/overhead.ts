/**
 * B1: what jobledger costs over raw Temporal. On one dev server, a plain Temporal workflow of two no-op
 * activities (`plainWorkflow`, no codec) against the same two steps as a jobledger job with everything on
 * (stack.ts), in list form (`bench.list`) and as workflow code (`bench.code`). The three sides take turns,
 * round by round. Each round and side: a throughput phase (`BENCH_B1_JOBS` jobs, default 200, with
 * `BENCH_B1_CONCURRENCY` submitters, default 20, each starting a job and waiting for its result), then a
 * latency phase (`BENCH_B1_LATENCY_JOBS`, default 50, one at a time): the server's start-to-close of each
 * (describe: start and close time) and the client's start-to-result. Rounds: `BENCH_B1_ROUNDS`, default 3,
 * after an uncounted warm-up of 20 jobs per side. Targets: median throughput ratio ≥ 0.90 and added p99
 * start-to-close ≤ 20 ms, per form. With `BENCH_B1_EARLIER=<dir>` (a copy of an earlier commit with this
 * bench/workflows.ts and bench/jobs.ts in it), a fourth side runs the list form on that commit's workflow
 * code: a before/after figure for a runtime change, interleaved in the same run. Writes artifacts/bench/b1.json.
 */
import type { Client } from '@temporalio/client';
import type { JobClient } from '../client/jobs';
import { codeJob, listJob } from './jobs';
import { envInt, interleaved, latency, median, pool, round, writeResult, type BenchSummary, type Latency } from './lib';
import { childCpuMs, historyShape, ownCpuMs, startStack, type Stack } from './stack';

const TARGET = { ratio: 0.9, addedP99Ms: 20 };

interface SideRound {
  jobsPerSec: number;
  /** CPU per job in the throughput phase: the dev server's, and the bench process's (workers, clients, ledger). */
  cpuMsPerJob: { server: number; worker: number };
  startToClose: Latency;
  startToResult: Latency;
}

type Side = 'plain' | 'list' | 'code' | 'earlier';

let serial = 0;
/** One job of a side, start to result; the id it ran under. */
function runnerFor(stack: Stack, plain: { client: Client; taskQueue: string }, side: Side, earlier?: JobClient): () => Promise<{ id: string; client: Client }> {
  if (side === 'plain') {
    return async () => {
      const id = `plain-${process.pid}-${++serial}`;
      await plain.client.workflow.execute('plainWorkflow', { taskQueue: plain.taskQueue, workflowId: id, args: [id] });
      return { id, client: plain.client };
    };
  }
  const job = side === 'code' ? codeJob : listJob;
  const jobs = side === 'earlier' ? earlier! : stack.jobs;
  return async () => {
    const { jobId } = await jobs.submit(job, { id: `${side}-${process.pid}-${++serial}` });
    await stack.client.workflow.getHandle(jobId).result();
    return { id: jobId, client: stack.client };
  };
}

async function measure(run: () => Promise<{ id: string; client: Client }>, jobs: number, concurrency: number, latencyJobs: number): Promise<SideRound> {
  const t0 = performance.now();
  const server0 = childCpuMs();
  const own0 = ownCpuMs();
  await pool(jobs, concurrency, async () => {
    await run();
  });
  const jobsPerSec = jobs / ((performance.now() - t0) / 1000);
  const cpuMsPerJob = { server: round((childCpuMs() - server0) / jobs, 2), worker: round((ownCpuMs() - own0) / jobs, 2) };
  const serverMs: number[] = [];
  const clientMs: number[] = [];
  for (let i = 0; i < latencyJobs; i++) {
    const s0 = performance.now();
    const { id, client } = await run();
    clientMs.push(performance.now() - s0);
    const d = await client.workflow.getHandle(id).describe();
    serverMs.push(d.closeTime!.getTime() - d.startTime.getTime());
  }
  return { jobsPerSec: round(jobsPerSec, 2), cpuMsPerJob, startToClose: latency(serverMs, 1), startToResult: latency(clientMs, 1) };
}

export async function runOverheadBench(): Promise<BenchSummary> {
  const rounds = envInt('BENCH_B1_ROUNDS', 3);
  const jobs = envInt('BENCH_B1_JOBS', 200);
  const concurrency = envInt('BENCH_B1_CONCURRENCY', 20);
  const latencyJobs = envInt('BENCH_B1_LATENCY_JOBS', 50);
  const stack = await startStack();
  try {
    const plain = await stack.plain();
    const earlierRoot = process.env.BENCH_B1_EARLIER;
    const earlier = earlierRoot ? await stack.earlier(earlierRoot) : undefined;
    const runners = { plain: runnerFor(stack, plain, 'plain'), list: runnerFor(stack, plain, 'list'), code: runnerFor(stack, plain, 'code') };
    const earlierRunner = earlier && runnerFor(stack, plain, 'earlier', earlier);
    for (const run of [...Object.values(runners), ...(earlierRunner ? [earlierRunner] : [])]) await pool(20, 10, async () => void (await run()));
    const sides: Partial<Record<Side, () => Promise<SideRound>>> = {
      plain: () => measure(runners.plain, jobs, concurrency, latencyJobs),
      list: () => measure(runners.list, jobs, concurrency, latencyJobs),
      code: () => measure(runners.code, jobs, concurrency, latencyJobs),
      ...(earlierRunner && { earlier: () => measure(earlierRunner, jobs, concurrency, latencyJobs) }),
    };
    const results = await interleaved(rounds, sides as Record<Side, () => Promise<SideRound>>);
    const forms = (['list', 'code'] as const).map((form) => {
      const ratios = results.map((r) => round(r[form].jobsPerSec / r.plain.jobsPerSec, 3));
      const addedP99 = results.map((r) => round(r[form].startToClose.p99Ms - r.plain.startToClose.p99Ms, 1));
      const addedP50 = results.map((r) => round(r[form].startToClose.p50Ms - r.plain.startToClose.p50Ms, 1));
      const medianRatio = round(median(ratios), 3);
      const medianAddedP99Ms = round(median(addedP99), 1);
      return { form, ratios, medianRatio, addedP50Ms: addedP50, addedP99Ms: addedP99, medianAddedP99Ms, meetsTarget: medianRatio >= TARGET.ratio && medianAddedP99Ms <= TARGET.addedP99Ms };
    });
    // Where a job's cost goes, by history: one job of each side.
    const shapes = {
      plain: await historyShape(plain.client, (await runners.plain()).id),
      list: await historyShape(stack.client, (await runners.list()).id),
      code: await historyShape(stack.client, (await runners.code()).id),
      ...(earlierRunner && { earlier: await historyShape(stack.client, (await earlierRunner()).id) }),
    };
    const versus = earlierRunner && {
      earlier: earlierRoot,
      listOverEarlier: results.map((r) => round(r.list.jobsPerSec / r.earlier.jobsPerSec, 3)),
      medianListOverEarlier: round(median(results.map((r) => r.list.jobsPerSec / r.earlier.jobsPerSec)), 3),
      medianP50ChangeMs: round(median(results.map((r) => r.list.startToClose.p50Ms - r.earlier.startToClose.p50Ms)), 1),
      medianP99ChangeMs: round(median(results.map((r) => r.list.startToClose.p99Ms - r.earlier.startToClose.p99Ms)), 1),
      events: { earlier: shapes.earlier!.events, now: shapes.list.events },
    };
    const result = {
      bench: 'b1',
      date: new Date().toISOString(),
      node: process.version,
      setup: { rounds, jobsPerRound: jobs, concurrency, latencyJobs, warmupJobsPerSide: 20 },
      rounds: results,
      forms,
      history: shapes,
      ...(versus && { versusEarlier: versus }),
      target: TARGET,
    };
    const file = writeResult('b1', result);
    console.log(`B1 jobledger vs raw Temporal: ${rounds} rounds × ${jobs} jobs (${concurrency} submitters) + ${latencyJobs} one at a time, per side`);
    results.forEach((r, i) => {
      const cell = (s: SideRound) => `${s.jobsPerSec} jobs/s, start-to-close p50 ${s.startToClose.p50Ms} p99 ${s.startToClose.p99Ms} ms, CPU/job server ${s.cpuMsPerJob.server} bench ${s.cpuMsPerJob.worker} ms`;
      console.log(`  round ${i + 1}: plain ${cell(r.plain)} | list ${cell(r.list)} | code ${cell(r.code)}${r.earlier ? ` | earlier list ${cell(r.earlier)}` : ''}`);
    });
    for (const f of forms) {
      console.log(`  ${f.form}: ratios ${f.ratios.join(', ')} (median ${f.medianRatio}); added p99 ${f.addedP99Ms.join(', ')} ms (median ${f.medianAddedP99Ms}): ${f.meetsTarget ? 'met' : 'missed'}`);
    }
    console.log(`  history events: plain ${shapes.plain.events}, list ${shapes.list.events}, code ${shapes.code.events}`);
    if (versus) console.log(`  list now / list at ${versus.earlier}: ${versus.listOverEarlier.join(', ')} (median ${versus.medianListOverEarlier}); p50 ${versus.medianP50ChangeMs} ms, p99 ${versus.medianP99ChangeMs} ms; events ${versus.events.earlier} -> ${versus.events.now}`);
    console.log(`  wrote ${file}`);
    const headline = forms
      .map((f) => `${f.form}: ratio ${f.medianRatio}, added p99 ${f.medianAddedP99Ms} ms (${f.meetsTarget ? 'met' : 'missed'})`)
      .join('; ') + `; events/job ${shapes.plain.events} plain, ${shapes.list.events} list, ${shapes.code.events} code`;
    return { headline, file };
  } finally {
    await stack.stop();
  }
}
