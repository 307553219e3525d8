/**
 * The invariants every scenario must keep, checked the same way after each one. (1) Every accepted job
 * settles in bounded time: its workflow closes with a terminal `JobStatus`, or stays running parked as
 * `DeadLettered`; each workflow is described, so the search attribute is compared with the workflow's
 * own status (terminal ⇔ closed, DeadLettered ⇔ running, Completed ⇒ completed workflow). (2) Applied
 * effects are exactly once per (job, step): each provider effect carries its step's key, appears at most
 * once per order, exactly once for every step of a Completed order, and compensations net out a
 * Compensated one. (3) The ledger agrees per job: same terminal status, every step of a Completed job
 * COMPLETED. (4) `reconcile` (Temporal vs ledger vs providers) is clean.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { JobStatus, TERMINAL_STATUSES, jobIdFor } from '../../common/constants';
import { SA } from '../../common/searchAttributes';
import { formatReport, reconcile } from '../../client/reconcile';
import { effects as exampleEffects, jobs as EXAMPLE_JOBS } from '../../examples/jobs';
import { StepState, stepKey } from '../../ledger';
import type { ChaosEnv } from './env';
import type { InvariantResult } from './scenario';
import { ORDER_TYPE, sleep } from './workload';

/** What describing one accepted job found. */
export interface JobOutcome {
  jobId: string;
  found: boolean;
  /** The workflow's execution status: RUNNING, COMPLETED, FAILED, TERMINATED... */
  workflowStatus?: string;
  /** The `JobStatus` search attribute. */
  jobStatus?: string;
  runId?: string;
  /** The last error describing it, if the last describe failed for another reason than not-found. */
  error?: string;
}

export interface SharedCheck {
  jobs: Map<string, JobOutcome>;
  /** Accepted jobs per JobStatus (`missing` when Temporal has no such workflow). */
  statuses: Record<string, number>;
  /** Applied effects per kind, over all providers. */
  effects: Record<string, number>;
  invariants: InvariantResult[];
}

/** The order job's effect kinds and the step (or compensation) whose key each must carry. */
export const ORDER_EFFECT_STEPS: Record<string, string> = {
  reserve: 'reserve-inventory',
  release: 'release-inventory',
  charge: 'charge-payment',
  refund: 'refund-payment',
  email: 'send-receipt',
  ship: 'notify-warehouse',
};

const isTerminal = (status: string | undefined) => status !== undefined && (TERMINAL_STATUSES as readonly string[]).includes(status);
const examples = (items: string[], n = 5) => `${items.slice(0, n).join('; ')}${items.length > n ? `; ... (${items.length} in all)` : ''}`;
const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
const listCounts = (counts: Record<string, number>) => Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function describeJob(env: ChaosEnv, jobId: string): Promise<JobOutcome> {
  try {
    const d = await env.main.client.workflow.getHandle(jobId).describe();
    return { jobId, found: true, workflowStatus: d.status.name, jobStatus: d.typedSearchAttributes.get(SA.JobStatus), runId: d.runId };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { jobId, found: false };
    return { jobId, found: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** A job is settled once its workflow closed, or it is parked as DeadLettered. */
const settled = (o: JobOutcome) => o.found && (o.workflowStatus !== 'RUNNING' || o.jobStatus === JobStatus.DeadLettered);

/** Describes every job until all are settled or `settleMs` has passed (one round a second, 16 describes at once). */
async function settleJobs(env: ChaosEnv, jobIds: readonly string[], settleMs: number): Promise<{ jobs: Map<string, JobOutcome>; tookMs: number }> {
  const start = Date.now();
  const jobs = new Map<string, JobOutcome>();
  let pending = [...jobIds];
  while (pending.length > 0) {
    await eachLimited(pending, 16, async (id) => {
      jobs.set(id, await describeJob(env, id));
    });
    pending = pending.filter((id) => !settled(jobs.get(id)!));
    if (pending.length === 0 || Date.now() - start > settleMs) break;
    await sleep(1_000);
  }
  return { jobs, tookMs: Date.now() - start };
}

function describeOutcome(o: JobOutcome): string {
  if (!o.found) return `${o.jobId}: ${o.error ? `describe failed (${o.error})` : 'not found in Temporal'}`;
  return `${o.jobId}: workflow ${o.workflowStatus}, JobStatus ${o.jobStatus ?? '(unset)'}`;
}

function checkAgreement(jobs: Iterable<JobOutcome>): InvariantResult {
  const bad: string[] = [];
  let checked = 0;
  for (const o of jobs) {
    if (!o.found) continue;
    checked += 1;
    const closed = o.workflowStatus !== 'RUNNING';
    if (closed !== isTerminal(o.jobStatus)) bad.push(describeOutcome(o));
    else if (!closed && o.jobStatus !== JobStatus.DeadLettered) bad.push(describeOutcome(o));
    else if (o.jobStatus === JobStatus.Completed && o.workflowStatus !== 'COMPLETED') bad.push(describeOutcome(o));
  }
  return {
    name: 'jobstatus-agrees-with-workflow',
    ok: bad.length === 0,
    detail: bad.length === 0
      ? `${checked} described: terminal JobStatus on every closed workflow, DeadLettered on every running one`
      : `${bad.length} of ${checked} disagree: ${examples(bad)}`,
  };
}

function checkEffects(env: ChaosEnv, jobs: Map<string, JobOutcome>): { invariant: InvariantResult; byKind: Record<string, number> } {
  const effects = [...env.sandbox.payments.listEffects(), ...env.sandbox.inventory.listEffects(), ...env.sandbox.email.listEffects()];
  const byKind = tally(effects.map((e) => e.kind));
  const bad: string[] = []; // counts wrong: listed first
  const misplaced: string[] = []; // effects under the wrong key or outside any accepted job
  const perOrder = new Map<string, Record<string, number>>();
  for (const e of effects) {
    const step = ORDER_EFFECT_STEPS[e.kind];
    const jobId = e.orderId === null ? undefined : jobIdFor(ORDER_TYPE, e.orderId);
    if (!step || !jobId || !jobs.has(jobId)) {
      misplaced.push(`${e.kind} effect ${e.idempotencyKey} belongs to no accepted order job`);
      continue;
    }
    if (e.idempotencyKey !== stepKey(jobId, step)) misplaced.push(`${e.kind} of ${jobId} carries key ${e.idempotencyKey}, not ${stepKey(jobId, step)}`);
    const counts = perOrder.get(jobId) ?? {};
    counts[e.kind] = (counts[e.kind] ?? 0) + 1;
    perOrder.set(jobId, counts);
  }
  let completed = 0;
  for (const o of jobs.values()) {
    if (!o.jobId.startsWith(`${ORDER_TYPE}:`)) continue;
    const n = (kind: string) => perOrder.get(o.jobId)?.[kind] ?? 0;
    for (const kind of Object.keys(ORDER_EFFECT_STEPS)) if (n(kind) > 1) bad.push(`${o.jobId}: ${n(kind)} ${kind} effects`);
    if (o.jobStatus === JobStatus.Completed) {
      completed += 1;
      for (const kind of ['reserve', 'charge', 'email', 'ship']) if (n(kind) !== 1) bad.push(`${o.jobId} Completed with ${n(kind)} ${kind} effects`);
      for (const kind of ['release', 'refund']) if (n(kind) !== 0) bad.push(`${o.jobId} Completed with ${n(kind)} ${kind} effects`);
    }
    if (o.jobStatus === JobStatus.Compensated && (n('release') !== n('reserve') || n('refund') !== n('charge'))) {
      bad.push(`${o.jobId} Compensated but not netted out: reserve ${n('reserve')}, release ${n('release')}, charge ${n('charge')}, refund ${n('refund')}`);
    }
  }
  bad.push(...misplaced);
  return {
    byKind,
    invariant: {
      name: 'effects-exactly-once',
      ok: bad.length === 0,
      detail: bad.length === 0
        ? `${effects.length} effects (${listCounts(byKind)}): at most one per (order, kind), each with its step's key; exactly one reserve, charge, email and ship per Completed order (${completed})`
        : `${bad.length} violation(s): ${examples(bad)}`,
    },
  };
}

async function checkLedger(env: ChaosEnv, jobs: Map<string, JobOutcome>): Promise<InvariantResult> {
  const stepsOf = new Map(EXAMPLE_JOBS.map((d) => [d.type, d.steps.map((s) => s.name)]));
  const bad: string[] = [];
  let checked = 0;
  await eachLimited([...jobs.values()].filter((o) => isTerminal(o.jobStatus)), 8, async (o) => {
    const record = await env.main.ledger.getJobById(o.jobId);
    if (o.jobStatus === JobStatus.Failed && !record) return; // rejected before the ledger recorded it
    checked += 1;
    if (record?.status !== o.jobStatus) bad.push(`${o.jobId}: JobStatus ${o.jobStatus}, ledger ${record?.status ?? '(no record)'}`);
    if (o.jobStatus !== JobStatus.Completed) return;
    const jobType = o.jobId.slice(0, o.jobId.indexOf(':'));
    for (const step of stepsOf.get(jobType) ?? []) {
      const state = (await env.main.ledger.getStep(stepKey(o.jobId, step)))?.state;
      if (state !== StepState.COMPLETED) bad.push(`${o.jobId}: step ${step} is ${state ?? 'absent'} in the ledger`);
    }
  });
  return {
    name: 'ledger-agrees',
    ok: bad.length === 0,
    detail: bad.length === 0 ? `${checked} terminal jobs: same status in the ledger, every step of the Completed ones COMPLETED` : `${bad.length} disagreement(s): ${examples(bad)}`,
  };
}

async function checkReconcile(env: ChaosEnv): Promise<InvariantResult> {
  const report = await reconcile({ client: env.main.client, ledger: env.main.ledger, effects: exampleEffects(env.sandbox.urls), settleMs: 30_000 });
  const rows = report.rows.map((r) => `${r.jobType} ${r.status} ${r.temporal}/${r.ledger}`).join(', ');
  return {
    name: 'reconcile-clean',
    ok: report.ok,
    detail: report.ok
      ? `Temporal/ledger: ${rows}; effects within bounds`
      : `${report.discrepancies.length} discrepanc${report.discrepancies.length === 1 ? 'y' : 'ies'}: ${examples(report.discrepancies.map((d) => `${d.kind}${d.source ? ` ${d.source}` : ''}${d.effect ? ` ${d.effect}` : ''}${d.status ? ` ${d.status}` : ''}: expected ${d.expected}, found ${d.actual} (${d.detail})`))}\n${formatReport(report)}`,
  };
}

/** Checks the shared invariants over the accepted jobs; `settleMs` bounds the wait for them to settle. */
export async function checkShared(env: ChaosEnv, accepted: readonly string[], options: { settleMs: number; expectAllCompleted?: boolean }): Promise<SharedCheck> {
  const { jobs, tookMs } = await settleJobs(env, accepted, options.settleMs);
  env.note(`jobs settled check took ${(tookMs / 1000).toFixed(1)} s`);
  const outcomes = [...jobs.values()];
  const statuses = tally(outcomes.map((o) => (o.found ? (o.jobStatus ?? '(unset)') : 'missing')));
  const unsettled = outcomes.filter((o) => !settled(o));
  const invariants: InvariantResult[] = [
    {
      name: 'jobs-settle',
      ok: unsettled.length === 0 && accepted.length > 0,
      detail: unsettled.length === 0
        ? `${accepted.length} accepted jobs settled within ${(tookMs / 1000).toFixed(1)} s (limit ${options.settleMs / 1000} s): ${listCounts(statuses)}`
        : `${unsettled.length} of ${accepted.length} not terminal nor DeadLettered after ${options.settleMs / 1000} s: ${examples(unsettled.map(describeOutcome))}`,
    },
    checkAgreement(outcomes),
  ];
  const effects = checkEffects(env, jobs);
  invariants.push(effects.invariant, await checkLedger(env, jobs), await checkReconcile(env));
  if (options.expectAllCompleted) {
    const notCompleted = outcomes.filter((o) => o.jobStatus !== JobStatus.Completed);
    invariants.push({
      name: 'all-completed',
      ok: notCompleted.length === 0,
      detail: notCompleted.length === 0
        ? `no business failure was injected and all ${accepted.length} jobs Completed`
        : `${notCompleted.length} job(s) did not complete although no business failure was injected: ${examples(notCompleted.map(describeOutcome))}`,
    });
  }
  return { jobs, statuses, effects: effects.byKind, invariants };
}
