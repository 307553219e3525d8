/**
 * The jobs the benchmarks run: two no-op steps, in list form (`bench.list`) and as workflow code
 * (`bench.code`), and `bench.hold`, whose one step waits until the bench releases it (a job that stays
 * running, for duplicate submissions of running jobs). Bench-only: not examples, not product code.
 */
import { z } from 'zod';
import { defineStep, type StepContext } from '../activities/step';
import { defineJob } from '../jobs/define';

const BenchInput = z.strictObject({ id: z.string().min(1).max(64).meta({ pii: false }) });
type BenchInput = z.infer<typeof BenchInput>;

const first = defineStep({ name: 'first', run: async (_ctx: StepContext<BenchInput>) => ({ ok: true }) });
const second = defineStep({ name: 'second', run: async (_ctx: StepContext<BenchInput>) => ({ ok: true }) });

export const listJob = defineJob({ type: 'bench.list', version: 1, input: BenchInput, key: (input) => input.id, steps: [first, second] });

export const codeJob = defineJob({
  type: 'bench.code',
  version: 1,
  input: BenchInput,
  key: (input) => input.id,
  steps: [first, second],
  workflow: async (job, input) => {
    await job.step(first, input);
    await job.step(second, input);
    return { ok: true };
  },
});

/** Releases every `bench.hold` step waiting now or later (the bench calls it once it is done with them). */
let release: () => void = () => {};
const released = new Promise<void>((resolve) => {
  release = resolve;
});
export function releaseHeldJobs(): void {
  release();
}

export const holdJob = defineJob({
  type: 'bench.hold',
  version: 1,
  input: BenchInput,
  key: (input) => input.id,
  steps: [{ name: 'hold', run: async () => released.then(() => ({ ok: true })) }],
});

export const BENCH_JOBS = [listJob, codeJob, holdJob];
