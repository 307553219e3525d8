/**
 * The jobs module (JOBLEDGER_JOBS_MODULE) of the jobledger workers in scenario b6: `bench.peer`, three steps
 * in a list, each applying one effect to the bench's effect store (bench/peer-effects.ts) with the step's
 * key as its Idempotency-Key, as any jobledger step that calls a downstream service does. The BullMQ worker
 * (bench/peer-bullmq-worker.ts) runs the same three calls in one processor.
 */
import { z } from 'zod';
import type { JobDefinition } from '../jobs/define';
import { defineJob } from '../jobs/define';
import type { StepContext } from '../activities/step';
import { applyEffect, EFFECTS_SERVICE, PEER_STEPS, type PeerStep } from './peer-effects';

export const PeerInput = z.strictObject({ id: z.string().min(1).max(128).meta({ pii: false }) });
export type PeerInput = z.infer<typeof PeerInput>;

/** An attempt of a step ends this long after it started: a killed worker's step is retried after this. */
export const PEER_STEP_TIMEOUT = '3s';

function peerStep(step: PeerStep) {
  return {
    name: step,
    dependency: EFFECTS_SERVICE,
    startToCloseTimeout: PEER_STEP_TIMEOUT,
    run: (ctx: StepContext<PeerInput>) => applyEffect(ctx.service(EFFECTS_SERVICE), { jobId: ctx.jobId, step, idempotencyKey: ctx.stepKey }),
  };
}

export const peerJob = defineJob({
  type: 'bench.peer',
  version: 1,
  input: PeerInput,
  key: (input) => input.id,
  steps: PEER_STEPS.map(peerStep),
});

export const jobs: readonly JobDefinition[] = [peerJob];
