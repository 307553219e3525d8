/**
 * B2: a duplicate-submission storm. First, `BENCH_B2_JOBS` (default 1,000) jobs that finish (`bench.list`,
 * run to their end) and then as many that stay running (`bench.hold`, whose step waits until the bench
 * releases it) are submitted by the submitters, each submission timed (a first submission starts a
 * workflow). Then rounds of
 * the storm: each round resubmits every one of them once, finished and running interleaved, by
 * `BENCH_B2_SUBMITTERS` (default 20) concurrent submitters, each duplicate timed and checked to be answered
 * as a duplicate. Round 0 is a warm-up: reported, not counted. Counted rounds: `BENCH_B2_ROUNDS`, default 3.
 * Target: duplicate p99 ≤ 5 ms in every counted round. Writes artifacts/bench/b2.json.
 */
import { holdJob, listJob, releaseHeldJobs } from './jobs';
import { envInt, latency, pool, writeResult, type BenchSummary, type Latency } from './lib';
import { startStack } from './stack';

const TARGET = { p99Ms: 5 };

export async function runDuplicateBench(): Promise<BenchSummary> {
  const jobs = envInt('BENCH_B2_JOBS', 1_000);
  const rounds = envInt('BENCH_B2_ROUNDS', 3);
  const submitters = envInt('BENCH_B2_SUBMITTERS', 20);
  const stack = await startStack();
  try {
    const tag = `${process.pid}-${Date.now().toString(36)}`;
    const finished = Array.from({ length: jobs }, (_, i) => ({ id: `done-${tag}-${i}` }));
    const running = Array.from({ length: jobs }, (_, i) => ({ id: `held-${tag}-${i}` }));
    // Both kinds, interleaved, in one list: [finished 0, running 0, finished 1, ...].
    const all = finished.flatMap((f, i) => [{ job: listJob, input: f }, { job: holdJob, input: running[i]! }]);

    // The finished jobs run to their end first: the held ones then take activity slots and keep them.
    const firstMs: number[] = [];
    const first = async (job: typeof listJob | typeof holdJob, input: { id: string }) => {
      const t0 = performance.now();
      const submitted = await stack.jobs.submit(job, input);
      firstMs.push(performance.now() - t0);
      if (submitted.deduplicated) throw new Error(`first submission of ${submitted.jobId} was answered as a duplicate`);
      return submitted.jobId;
    };
    await pool(jobs, submitters, async (i) => {
      await stack.client.workflow.getHandle(await first(listJob, finished[i]!)).result();
    });
    await pool(jobs, submitters, async (i) => {
      await first(holdJob, running[i]!);
    });

    const storm: Array<{ round: number; counted: boolean; finished: Latency; running: Latency; all: Latency }> = [];
    for (let round = 0; round <= rounds; round++) {
      const finishedMs: number[] = [];
      const runningMs: number[] = [];
      await pool(all.length, submitters, async (i) => {
        const { job, input } = all[i]!;
        const t0 = performance.now();
        const submitted = await stack.jobs.submit(job, input);
        (i % 2 === 0 ? finishedMs : runningMs).push(performance.now() - t0);
        if (!submitted.deduplicated) throw new Error(`duplicate of ${submitted.jobId} started a new job`);
      });
      storm.push({ round, counted: round > 0, finished: latency(finishedMs, 3), running: latency(runningMs, 3), all: latency([...finishedMs, ...runningMs], 3) });
    }
    const counted = storm.filter((r) => r.counted);
    const worstP99 = Math.max(...counted.map((r) => r.all.p99Ms));
    const result = {
      bench: 'b2',
      date: new Date().toISOString(),
      node: process.version,
      setup: { finishedJobs: jobs, runningJobs: jobs, submitters, rounds, warmupRounds: 1 },
      first: latency(firstMs, 3),
      storm,
      target: TARGET,
      worstCountedP99Ms: worstP99,
      meetsTarget: counted.every((r) => r.all.p99Ms <= TARGET.p99Ms),
    };
    const file = writeResult('b2', result);
    const line = (l: Latency) => `p50 ${l.p50Ms} p99 ${l.p99Ms} max ${l.maxMs} ms`;
    console.log(`B2 duplicate storm: ${jobs} finished + ${jobs} running jobs, ${submitters} submitters`);
    console.log(`  first submissions (${firstMs.length}): ${line(result.first)}`);
    for (const r of storm) console.log(`  round ${r.round}${r.counted ? '' : ' (warm-up, not counted)'}: finished ${line(r.finished)} | running ${line(r.running)} | all ${line(r.all)}`);
    console.log(`  target p99 ≤ ${TARGET.p99Ms} ms every counted round: ${result.meetsTarget ? 'met' : 'missed'} (worst ${worstP99} ms)`);
    console.log(`  wrote ${file}`);
    const warm = storm[0]!.all;
    return {
      headline: `duplicate p99 ${counted.map((r) => r.all.p99Ms).join(' / ')} ms over ${counted.length} rounds (warm-up ${warm.p99Ms} ms, not counted), p50 ${counted[0]?.all.p50Ms} ms; first submission p50 ${result.first.p50Ms} ms: ${result.meetsTarget ? 'met' : 'missed'}`,
      file,
    };
  } finally {
    releaseHeldJobs();
    await stack.stop();
  }
}
