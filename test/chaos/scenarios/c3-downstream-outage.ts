/**
 * C3, a downstream outage. Orders are submitted evenly while the payments provider answers every request
 * with 503 for `outageMs`. The workers share one breaker file: the payments circuit must open (watched
 * from the driver), and a charge attempt that fails with CircuitOpen must not have called the provider
 * (no call with its key between its claim and its failure in the ledger trail). Every job must complete
 * after the outage: jobs whose retries ran out park in DeadLettered, and the scenario, as an operator,
 * retries them and counts them. The start times of retried attempts (ledger claims of attempt >= 2) are
 * bucketed: no bucket may hold more than `maxBucketPercent` of them, so retries spread out (jitter).
 */
import { JobStatus } from '../../../common/constants';
import type { LedgerEvent } from '../../../ledger';
import { SqliteBreakerStore } from '../../../resilience/breaker-store';
import type { ChaosEnv } from '../env';
import type { ChaosScenario, InvariantResult } from '../scenario';
import { ORDER_TYPE, Submitter, paced, retryAsOperator, sleep } from '../workload';

type C3Params = {
  /** Orders submitted. */
  jobs: number;
  /** Worker processes (one breaker file). */
  workers: number;
  /** Submissions are spread over this long. */
  submitMs: number;
  /** The outage starts this long after submissions start. */
  outageAtMs: number;
  /** How long the payments provider answers 503. */
  outageMs: number;
  /** Width of the retry histogram's buckets. */
  bucketMs: number;
  /** The largest share of retries one bucket may hold, in percent. */
  maxBucketPercent: number;
  /** Fewer retries than this make the spread check meaningless: it fails. */
  minRetries: number;
  /** How long to wait for every job to complete or park before the operator retries. */
  parkWaitMs: number;
  /** How long the jobs get to settle afterwards. */
  settleMs: number;
};

const CHARGE = 'charge-payment';
const OPERATOR = { operator: 'chaos-operator', reason: 'payments outage over (C3)' };

/** One attempt of a charge step, from the ledger trail: its claim and how it ended. */
interface Attempt {
  key: string;
  attempt: number;
  claimAt: number;
  endAt?: number;
  errorClass?: string;
}

function chargeAttempts(events: readonly LedgerEvent[]): Attempt[] {
  const open = new Map<string, Attempt>();
  const attempts: Attempt[] = [];
  for (const e of events) {
    if (!e.stepKey?.endsWith(`/${CHARGE}`)) continue;
    const data = e.data as { owner?: { attempt?: number }; error?: { errorClass?: string } } | null;
    if (e.kind === 'step.claimed' || e.kind === 'step.takeover') {
      const a: Attempt = { key: e.stepKey, attempt: data?.owner?.attempt ?? 0, claimAt: e.recordedAt };
      open.set(e.stepKey, a);
      attempts.push(a);
    } else if (e.kind === 'step.failed' || e.kind === 'step.completed') {
      const a = open.get(e.stepKey);
      if (!a) continue;
      a.endAt = e.recordedAt;
      if (e.kind === 'step.failed') a.errorClass = data?.error?.errorClass ?? 'unknown';
      open.delete(e.stepKey);
    }
  }
  return attempts;
}

/** Polls the shared breaker file and records every state change of one dependency's circuit. */
function watchCircuit(env: ChaosEnv, dependency: string): { transitions: { atMs: number; state: string }[]; stop: () => void } {
  const store = new SqliteBreakerStore(env.breakerPath);
  const transitions: { atMs: number; state: string }[] = [];
  let last = 'closed';
  const timer = setInterval(() => {
    const state = store.get(dependency)?.state ?? 'closed';
    if (state === last) return;
    last = state;
    transitions.push({ atMs: Date.now(), state });
    env.note(`${dependency} circuit ${state}`);
  }, 100);
  return {
    transitions,
    stop: () => {
      clearInterval(timer);
      store.close();
    },
  };
}

/** Waits until no order job runs, parked ones aside unless `closedOnly` (visibility counts), at most `limitMs`. */
async function waitCompletedOrParked(env: ChaosEnv, expected: number, limitMs: number, closedOnly = false): Promise<boolean> {
  const client = env.main.client;
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const all = (await client.workflow.count(`JobType = "${ORDER_TYPE}"`)).count;
    const busy = (await client.workflow.count(`JobType = "${ORDER_TYPE}" AND ExecutionStatus = "Running"${closedOnly ? '' : ` AND JobStatus != "${JobStatus.DeadLettered}"`}`)).count;
    if (all >= expected && busy === 0) return true;
    await sleep(1_000);
  }
  return false;
}

const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
const pct = (n: number, total: number) => (total === 0 ? 0 : Math.round((1000 * n) / total) / 10);

export const c3DownstreamOutage: ChaosScenario<C3Params> = {
  id: 'C3',
  title: 'payments provider down 30 s: breaker opens and fails fast, jittered retries, every order completes',
  full: { jobs: 80, workers: 3, submitMs: 60_000, outageAtMs: 15_000, outageMs: 30_000, bucketMs: 250, maxBucketPercent: 20, minRetries: 20, parkWaitMs: 240_000, settleMs: 240_000 },
  smoke: { jobs: 24, workers: 2, submitMs: 24_000, outageAtMs: 4_000, outageMs: 12_000, bucketMs: 250, maxBucketPercent: 25, minRetries: 8, parkWaitMs: 150_000, settleMs: 120_000 },

  async run(env, p) {
    const initial = env.workers.start(p.workers);
    await env.workers.waitReady(initial);
    env.note(`${p.workers} workers ready, sharing ${env.breakerPath}`);

    const submitter = new Submitter();
    const orderIds = Array.from({ length: p.jobs }, (_, i) => `c3-${String(i).padStart(4, '0')}`);
    const submissions = paced(orderIds, p.submitMs, 8, (orderId) => submitter.submit(env.main, orderId));

    await sleep(p.outageAtMs);
    const circuit = watchCircuit(env, 'payments');
    const outageFrom = Date.now();
    const outageTo = outageFrom + p.outageMs;
    env.sandbox.payments.setFaults({ outage: [{ untilEpochMs: outageTo }] });
    env.note(`payments outage for ${p.outageMs / 1000} s`);
    await sleep(outageTo - Date.now());
    env.sandbox.payments.setFaults({});
    env.note('payments outage over');
    await submissions;
    env.note(`submissions done: ${submitter.acknowledged.size} acknowledged`);

    const accepted = [...submitter.acknowledged.keys()];
    const allEnded = await waitCompletedOrParked(env, accepted.length, p.parkWaitMs);
    circuit.stop();
    const parked = await env.main.jobs.deadLettered(ORDER_TYPE);
    const { retried, refused: retryErrors } = await retryAsOperator(env.main, parked.map((job) => job.jobId), OPERATOR);
    const parkedAt = tally(parked.map((j) => `${j.step ?? '?'}/${j.errorClass ?? '?'}`));
    env.note(`${parked.length} jobs parked (${JSON.stringify(parkedAt)}); operator retried ${retried.length}`);

    // What the workers did, from the ledger trail and the provider's own call log (read after settling).
    const measure = async () => {
      const attempts = chargeAttempts(await env.main.ledger.events());
      const calls = env.sandbox.payments.listCalls().filter((c) => c.path === '/charges').map((c) => ({ key: c.idempotencyKey, at: Date.parse(c.receivedAt), fault: c.fault }));
      const inOutage = (t: number) => t >= outageFrom && t < outageTo;
      const circuitOpen = attempts.filter((a) => a.errorClass === 'CircuitOpen');
      const calledAnyway = circuitOpen.filter((a) => calls.some((c) => c.key === a.key && c.at >= a.claimAt && c.at <= (a.endAt ?? Infinity)));
      const fastMs = circuitOpen.map((a) => (a.endAt ?? a.claimAt) - a.claimAt).sort((x, y) => x - y);
      const retries = attempts.filter((a) => a.attempt >= 2 && a.claimAt >= outageFrom);
      const histogram = new Map<number, number>();
      for (const r of retries) {
        const bucket = Math.floor((r.claimAt - outageFrom) / p.bucketMs);
        histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
      }
      const [peakBucket, peak] = [...histogram].reduce((best, cur) => (cur[1] > best[1] ? cur : best), [0, 0]);
      return {
        attempts,
        outageAttempts: attempts.filter((a) => inOutage(a.claimAt)).length,
        outageCircuitOpen: circuitOpen.filter((a) => inOutage(a.claimAt)).length,
        outageCalls: calls.filter((c) => inOutage(c.at)).length,
        circuitOpen,
        calledAnyway,
        fastMs,
        retries,
        histogram: Object.fromEntries([...histogram].sort((x, y) => x[0] - y[0]).map(([b, n]) => [`+${((b * p.bucketMs) / 1000).toFixed(2)}s`, n])),
        peak,
        peakAt: `+${((peakBucket * p.bucketMs) / 1000).toFixed(2)}s`,
        errorClasses: tally(attempts.map((a) => a.errorClass ?? (a.endAt ? 'ok' : 'unfinished'))),
      };
    };

    // Measured once the retried jobs have ended too (their attempts restart at 1, so they are no retries).
    const closed = await waitCompletedOrParked(env, accepted.length, p.settleMs, true);
    const m = await measure();
    const opened = circuit.transitions.find((t) => t.state === 'open' && t.atMs >= outageFrom && t.atMs <= outageTo);
    const store = new SqliteBreakerStore(env.breakerPath);
    const finalState = store.get('payments')?.state ?? 'closed';
    store.close();
    const transitions = circuit.transitions.map((t) => `${t.state} at +${((t.atMs - outageFrom) / 1000).toFixed(1)}s`).join(', ') || 'none';
    const peakPercent = pct(m.peak, m.retries.length);
    env.note(`retry histogram (${p.bucketMs} ms buckets since the outage began): ${JSON.stringify(m.histogram)}`);

    const checks = async (): Promise<InvariantResult[]> => {
      const median = m.fastMs[Math.floor(m.fastMs.length / 2)] ?? 0;
      return [
        {
          name: 'breaker-opens',
          ok: opened !== undefined && finalState === 'closed',
          detail: `payments circuit: ${transitions}; ${finalState} at the end`,
        },
        {
          name: 'circuit-open-fails-fast',
          ok: m.circuitOpen.length > 0 && m.calledAnyway.length === 0,
          detail: m.circuitOpen.length === 0
            ? `no charge attempt failed CircuitOpen: during the outage ${m.outageAttempts} attempts made ${m.outageCalls} provider calls`
            : m.calledAnyway.length === 0
            ? `${m.circuitOpen.length} charge attempts failed CircuitOpen, none called the provider (median ${median} ms, max ${m.fastMs.at(-1) ?? 0} ms claim to failure); during the outage ${m.outageAttempts} attempts made ${m.outageCalls} provider calls (${m.outageCircuitOpen} failed fast)`
            : `${m.calledAnyway.length} CircuitOpen attempts called the provider anyway: ${m.calledAnyway.slice(0, 5).map((a) => `${a.key}#${a.attempt}`).join(', ')}`,
        },
        {
          name: 'retries-spread-out',
          ok: m.retries.length >= p.minRetries && peakPercent <= p.maxBucketPercent,
          detail: `${m.retries.length} retried attempts (min ${p.minRetries}) over ${Object.keys(m.histogram).length} buckets of ${p.bucketMs} ms; the fullest holds ${m.peak} (${peakPercent}%, limit ${p.maxBucketPercent}%) at ${m.peakAt}`,
        },
        {
          name: 'parked-jobs-retried',
          ok: allEnded && closed && retryErrors.length === 0 && retried.length === parked.length,
          detail: `${allEnded ? 'every job completed or parked' : `jobs still running after ${p.parkWaitMs / 1000} s`}${closed ? '' : `; jobs still running ${p.settleMs / 1000} s after the retries`}; ${parked.length} parked (${JSON.stringify(parkedAt)}), ${retried.length} retried by the operator${retryErrors.length ? `; refused: ${retryErrors.slice(0, 3).join('; ')}` : ''}`,
        },
        {
          name: 'every-submission-acknowledged',
          ok: submitter.unacknowledged.length === 0,
          detail: `${accepted.length} of ${p.jobs} acknowledged`,
        },
      ];
    };

    return {
      workload: `${p.jobs} order.fulfill jobs over ${p.submitMs / 1000} s, ${p.workers} workers sharing one breaker file`,
      faults: `payments provider 503 for ${p.outageMs / 1000} s from +${p.outageAtMs / 1000} s`,
      accepted,
      observed: {
        submitted: p.jobs,
        acknowledged: accepted.length,
        circuitTransitions: transitions,
        chargeAttempts: m.attempts.length,
        attemptClasses: Object.entries(m.errorClasses).map(([k, n]) => `${k} ${n}`).join(', '),
        outageAttempts: m.outageAttempts,
        outageCircuitOpen: m.outageCircuitOpen,
        outageProviderCalls: m.outageCalls,
        parkedAfterOutage: parked.length,
        operatorRetries: retried.length,
        retries: m.retries.length,
        retryPeak: `${m.peak} (${peakPercent}%) in the ${p.bucketMs} ms bucket at ${m.peakAt}`,
        retryHistogram: m.histogram,
      },
      expectAllCompleted: true,
      checks,
    };
  },
};
