/**
 * C7, child failures and parents with long keys. `report.generate` parents fan out `report.section`
 * children (key `<parent key>.part-N`). Some parents come through the JobClient with keys of 120-128
 * characters: those whose derived child keys would pass 128 characters must be refused before start with
 * InvalidChildKeyError (nothing in Temporal, nothing in the ledger). Some long-key parents are started
 * raw (`client.workflow.start('jobWorkflow')`, bypassing the client): they must end terminal or parked,
 * their JobStatus agreeing with the workflow. Some children are terminated by id while they render
 * (their ledger step IN_PROGRESS): their parent must park at `children` (DeadLettered, workflow running);
 * the scenario retries it as an operator and it must complete. No child index runs more often than once,
 * plus one rerun if it was terminated.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { JOB_WORKFLOW_TYPE, JobStatus, childKey, isTerminal as isTerminalStatus, jobIdFor } from '../../../common/constants';

const isTerminal = (s: string | undefined) => s !== undefined && isTerminalStatus(s);
import { SA } from '../../../common/searchAttributes';
import { InvalidChildKeyError } from '../../../jobs/submission';
import { StepState, stepKey } from '../../../ledger';
import type { ChaosEnv } from '../env';
import type { ChaosScenario, InvariantResult } from '../scenario';
import { retryAsOperator, sleep } from '../workload';

type C7Params = {
  /** Parents with short keys, submitted through the JobClient. */
  parents: number;
  /** Sections (children) per parent. */
  sections: number;
  /** Children terminated while they render, each of a different parent. */
  terminations: number;
  /** Worker processes. */
  workers: number;
  /** How long to wait for every parent to end or park before the operator retries. */
  parkWaitMs: number;
  /** How long the jobs get to settle afterwards. */
  settleMs: number;
};

const PARENT_TYPE = 'report.generate';
const CHILD_TYPE = 'report.section';
const OPERATOR = { operator: 'chaos-operator', reason: 'child terminated by chaos (C7)' };

/** A parent job the scenario submits: its key, its sections, and how it is started. */
interface Parent {
  key: string;
  sections: number;
  via: 'client' | 'raw';
  jobId: string;
  /** Every derived child key fits in 128 characters (computed here, not by the product). */
  childKeysFit: boolean;
}

/** A key of exactly `length` characters, naming its length and section count for the logs. */
const longKey = (length: number, sections: number, via: string) => `c7-${via}-L${length}-s${sections}-`.padEnd(length, 'k');

function parent(key: string, sections: number, via: Parent['via']): Parent {
  const longestChild = `${key}.part-${sections - 1}`.length;
  return { key, sections, via, jobId: jobIdFor(PARENT_TYPE, key), childKeysFit: longestChild <= 128 };
}

const reportInput = (p: Parent) => ({
  reportId: `r-${p.key.slice(0, 40)}`,
  sections: Array.from({ length: p.sections }, (_, i) => `section ${i + 1}`),
});

const childIds = (p: Parent) => Array.from({ length: p.sections }, (_, i) => jobIdFor(CHILD_TYPE, childKey(p.key, i)));

async function describe(env: ChaosEnv, jobId: string): Promise<{ status: string; jobStatus?: string; step?: string } | undefined> {
  try {
    const d = await env.main.client.workflow.getHandle(jobId).describe();
    return { status: d.status.name, jobStatus: d.typedSearchAttributes.get(SA.JobStatus), step: d.typedSearchAttributes.get(SA.JobStep) };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}


type TerminateOutcome = 'rendering' | 'after-render' | 'too-late' | 'not-started';

/** Whether the run's history shows its render activity scheduled but never completed (the run was stopped mid-render). */
async function stoppedMidRender(env: ChaosEnv, childId: string): Promise<boolean> {
  const history = await env.main.client.workflow.getHandle(childId).fetchHistory();
  const events = history.events ?? [];
  const render = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === `${CHILD_TYPE}:render`);
  if (!render) return false;
  return !events.some((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === String(render.eventId));
}

/**
 * Waits for a child's render step to be IN_PROGRESS in the ledger, then terminates the child's workflow.
 * `rendering`: its history ends with the render activity unfinished; `after-render`: terminated once the
 * activity had completed; `too-late`: the child ended before it could be terminated.
 */
async function terminateWhileRendering(env: ChaosEnv, childId: string, limitMs: number): Promise<TerminateOutcome> {
  const key = stepKey(childId, 'render');
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const step = await env.main.ledger.getStep(key);
    if (step?.state === StepState.COMPLETED) return 'too-late';
    if (step?.state === StepState.IN_PROGRESS) {
      try {
        await env.main.client.workflow.getHandle(childId).terminate('chaos C7: child terminated while rendering');
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'too-late';
        throw err;
      }
      return (await stoppedMidRender(env, childId)) ? 'rendering' : 'after-render';
    }
    await sleep(2);
  }
  return 'not-started';
}

export const c7ChildFailures: ChaosScenario<C7Params> = {
  id: 'C7',
  title: 'report parents with 120-128 character keys (client and raw starts), children terminated mid-render, operator retries',
  full: { parents: 12, sections: 5, terminations: 4, workers: 2, parkWaitMs: 180_000, settleMs: 180_000 },
  smoke: { parents: 4, sections: 3, terminations: 2, workers: 2, parkWaitMs: 120_000, settleMs: 120_000 },

  async run(env, p) {
    const initial = env.workers.start(p.workers);
    await env.workers.waitReady(initial);
    env.note(`${p.workers} workers ready`);

    // Short keys; long keys around the limit (120-128 chars, with more sections where the index gets a second digit); raw starts.
    const viaClient: Parent[] = [
      ...Array.from({ length: p.parents }, (_, i) => parent(`c7-${String(i).padStart(3, '0')}`, p.sections, 'client')),
      ...[120, 121, 122, 123, 124, 125, 126, 127, 128].map((len) => parent(longKey(len, p.sections, 'c'), p.sections, 'client')),
      parent(longKey(121, 12, 'c'), 12, 'client'),
      parent(longKey(120, 20, 'c'), 20, 'client'),
    ];
    const viaRaw: Parent[] = [
      parent(longKey(120, p.sections, 'r'), p.sections, 'raw'),
      parent(longKey(121, 12, 'r'), 12, 'raw'),
      parent(longKey(124, p.sections, 'r'), p.sections, 'raw'),
      parent(longKey(128, p.sections, 'r'), p.sections, 'raw'),
    ];

    const rejected: { parent: Parent; error: string; childKeyError: boolean }[] = [];
    const submitErrors: string[] = [];
    const started: Parent[] = [];
    await Promise.all(
      viaClient.map(async (job) => {
        try {
          await env.main.jobs.submit(PARENT_TYPE, reportInput(job), { key: job.key });
          started.push(job);
        } catch (err) {
          const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
          if (err instanceof InvalidChildKeyError || job.childKeysFit === false) rejected.push({ parent: job, error, childKeyError: err instanceof InvalidChildKeyError });
          else submitErrors.push(`${job.jobId}: ${error}`);
        }
      }),
    );
    for (const job of viaRaw) {
      await env.main.client.workflow.start(JOB_WORKFLOW_TYPE, {
        workflowId: job.jobId,
        taskQueue: env.taskQueue,
        args: [{ jobType: PARENT_TYPE, input: reportInput(job), idempotencyKey: job.key, submittedBy: 'chaos-raw-starter' }],
      });
      started.push(job);
    }
    env.note(`${started.length} parents started (${viaRaw.length} raw), ${rejected.length} refused by the client`);

    // Terminate the last child of several parents whose children can start (long keys first), while it renders.
    const targets = started
      .filter((job) => job.childKeysFit)
      .sort((a, b) => b.key.length - a.key.length)
      .slice(0, p.terminations).map((job) => ({ job, childId: childIds(job)[job.sections - 1]! }));
    const terminations = await Promise.all(targets.map(async (t) => ({ ...t, outcome: await terminateWhileRendering(env, t.childId, 60_000) })));
    for (const t of terminations) env.note(`terminate ${t.childId}: ${t.outcome}`);
    const terminated = terminations.filter((t) => t.outcome === 'rendering' || t.outcome === 'after-render');

    // Every parent ends or parks; JobStatus is sampled on the way: never Running on a closed workflow.
    const sampledBad = new Set<string>();
    const deadline = Date.now() + p.parkWaitMs;
    let views = new Map<string, Awaited<ReturnType<typeof describe>>>();
    for (;;) {
      views = new Map(await Promise.all(started.map(async (job) => [job.jobId, await describe(env, job.jobId)] as const)));
      for (const [id, v] of views) if (v && v.status !== 'RUNNING' && !isTerminal(v.jobStatus)) sampledBad.add(`${id}: ${v.status} with JobStatus ${v.jobStatus}`);
      const waiting = [...views.values()].filter((v) => !v || (v.status === 'RUNNING' && v.jobStatus !== JobStatus.DeadLettered));
      if (waiting.length === 0 || Date.now() > deadline) break;
      await sleep(1_000);
    }
    const parked = started.filter((job) => views.get(job.jobId)?.jobStatus === JobStatus.DeadLettered);
    const parkedWrong = parked.filter((job) => views.get(job.jobId)?.status !== 'RUNNING' || views.get(job.jobId)?.step !== 'children').map((job) => `${job.jobId}: ${JSON.stringify(views.get(job.jobId))}`);
    const { retried, refused: retryErrors } = await retryAsOperator(env.main, parked.map((job) => job.jobId), OPERATOR);
    env.note(`${parked.length} parents parked at children; operator retried ${retried.length}`);

    const childrenOfStarted = started.filter((job) => job.childKeysFit).flatMap(childIds);
    const accepted = [...started.map((job) => job.jobId), ...childrenOfStarted];

    const checks = async (): Promise<InvariantResult[]> => {
      const client = env.main.client;
      // Refused submissions left nothing behind.
      const leftovers: string[] = [];
      for (const { parent: job } of rejected) {
        if (await describe(env, job.jobId)) leftovers.push(`${job.jobId} exists in Temporal`);
        if (await env.main.ledger.getJobById(job.jobId)) leftovers.push(`${job.jobId} is in the ledger`);
        if ((await client.workflow.count(`ParentJobId = "${job.jobId}"`)).count > 0) leftovers.push(`${job.jobId} has children`);
      }
      const wronglyRefused = rejected.filter((r) => r.parent.childKeysFit || !r.childKeyError).map((r) => `${r.parent.jobId}: ${r.error}`);
      const wronglyStarted = started.filter((job) => job.via === 'client' && !job.childKeysFit).map((job) => job.jobId);

      // Final parent states: Completed, or Failed for raw starts whose child keys cannot exist.
      const finals = new Map(await Promise.all(started.map(async (job) => [job.jobId, await describe(env, job.jobId)] as const)));
      const badFinal = started
        .filter((job) => {
          const v = finals.get(job.jobId);
          const want = job.childKeysFit ? ['COMPLETED', JobStatus.Completed] : ['FAILED', JobStatus.Failed];
          return v?.status !== want[0] || v?.jobStatus !== want[1];
        })
        .map((job) => `${job.jobId} (${job.via}): ${JSON.stringify(finals.get(job.jobId))}`);

      // Children: the expected ids, one run each, two for the terminated ones.
      const terminatedIds = new Set(terminated.map((t) => t.childId));
      const runProblems: string[] = [];
      let runs = 0;
      for (const job of started) {
        const perId = new Map<string, string[]>();
        for await (const e of client.workflow.list({ query: `ParentJobId = "${job.jobId}"` })) perId.set(e.workflowId, [...(perId.get(e.workflowId) ?? []), e.status.name]);
        const expected = job.childKeysFit ? childIds(job) : [];
        for (const id of perId.keys()) if (!expected.includes(id)) runProblems.push(`${id}: unexpected child`);
        for (const id of expected) {
          const statuses = perId.get(id) ?? [];
          runs += statuses.length;
          const want = terminatedIds.has(id) ? 2 : 1;
          if (statuses.length !== want) runProblems.push(`${id}: ${statuses.length} runs (${statuses.join(', ')}), expected ${want}`);
        }
      }
      // The ledger record of a rerun child must describe its newest run (reconcile and the archive rely on it).
      const staleRuns: string[] = [];
      for (const { childId } of terminated) {
        const latest = (await client.workflow.getHandle(childId).describe()).runId;
        const recorded = (await env.main.ledger.getJobById(childId))?.runId;
        if (recorded !== latest) staleRuns.push(`${childId}: ledger run ${recorded ?? '(none)'}, newest run ${latest}`);
      }
      const parkedIds = new Set(parked.map((job) => job.jobId));
      const shouldPark = new Set(terminated.map((t) => t.job.jobId));
      const parkMismatch = [...new Set([...parkedIds, ...shouldPark])].filter((id) => parkedIds.has(id) !== shouldPark.has(id));
      return [
        {
          name: 'long-keys-refused-before-start',
          ok: leftovers.length === 0 && wronglyRefused.length === 0 && wronglyStarted.length === 0 && submitErrors.length === 0 && rejected.length > 0,
          detail: leftovers.length + wronglyRefused.length + wronglyStarted.length + submitErrors.length === 0
            ? `${rejected.length} client submissions with child keys over 128 characters refused with InvalidChildKeyError, none in Temporal or the ledger, no children; ${started.filter((j) => j.via === 'client' && j.key.length >= 120).length} long keys whose child keys fit were started`
            : [...leftovers, ...wronglyRefused.map((r) => `wrongly refused ${r}`), ...wronglyStarted.map((id) => `started although a child key is too long: ${id}`), ...submitErrors].slice(0, 6).join('; '),
        },
        {
          name: 'jobstatus-never-running-on-closed',
          ok: sampledBad.size === 0,
          detail: sampledBad.size === 0 ? `every parent sampled about once a second until it ended or parked: a closed workflow always had a terminal JobStatus` : [...sampledBad].slice(0, 5).join('; '),
        },
        {
          name: 'terminated-children-park-parent',
          ok: terminated.length > 0 && parkMismatch.length === 0 && parkedWrong.length === 0,
          detail: `${terminated.length} of ${targets.length} children terminated (${terminations.filter((t) => t.outcome === 'rendering').length} while rendering); ${parked.length} parents parked DeadLettered at children with a running workflow${parkMismatch.length ? `; parked or not as they should not: ${parkMismatch.join(', ')}` : ''}${parkedWrong.length ? `; parked wrongly: ${parkedWrong.join('; ')}` : ''}`,
        },
        {
          name: 'parents-complete-after-retry',
          ok: badFinal.length === 0 && retryErrors.length === 0 && retried.length === parked.length,
          detail: badFinal.length === 0 && retryErrors.length === 0
            ? `${retried.length} operator retries; ${started.filter((j) => j.childKeysFit).length} parents Completed, ${started.filter((j) => !j.childKeysFit).length} raw starts with too-long child keys Failed`
            : [...badFinal, ...retryErrors].slice(0, 6).join('; '),
        },
        {
          name: 'rerun-children-recorded',
          ok: staleRuns.length === 0,
          detail: staleRuns.length === 0
            ? `the ledger records of the ${terminated.length} rerun children name their newest run`
            : `${staleRuns.length} of ${terminated.length} rerun children keep the terminated run in the ledger: ${staleRuns.slice(0, 3).join('; ')}`,
        },
        {
          name: 'children-started-once',
          ok: runProblems.length === 0,
          detail: runProblems.length === 0 ? `${runs} child runs for ${childrenOfStarted.length} child ids: one each, two for the ${terminatedIds.size} terminated` : runProblems.slice(0, 6).join('; '),
        },
      ];
    };

    return {
      workload: `${started.length + rejected.length} report.generate parents (${p.parents} short keys, ${viaClient.length - p.parents} keys of 120-128 chars via the JobClient, ${viaRaw.length} raw starts with long keys), ${p.sections}-20 sections each, ${p.workers} workers`,
      faults: `${terminated.length} report.section children terminated by id (${terminations.filter((t) => t.outcome === 'rendering').length} while rendering); ${viaRaw.length} raw starts bypassing the client`,
      accepted,
      observed: {
        parentsStarted: started.length,
        refusedByClient: rejected.length,
        rawStarts: viaRaw.length,
        children: childrenOfStarted.length,
        terminated: terminated.length,
        terminatedWhileRendering: terminations.filter((t) => t.outcome === 'rendering').length,
        parkedAtChildren: parked.length,
        operatorRetries: retried.length,
      },
      checks,
    };
  },
};
