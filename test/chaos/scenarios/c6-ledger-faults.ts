/**
 * C6, ledger faults. Orders run through worker processes sharing one ledger file while four faults are
 * injected in turn, each with orders in flight and more submitted during it: locked (another connection
 * holds BEGIN IMMEDIATE), read-only (the workers, run under an unprivileged uid because root ignores file
 * modes, are restarted on a ledger chmod-ed 0444), corrupt (header and page headers overwritten in place,
 * then the file restored from a copy taken under the write lock at the moment of the fault) and deleted
 * (unlinked under the write lock: the workers must notice and exit; the copy is restored and new workers
 * continue). Under the lock and the read-only file, the orders sent during the fault go through the CLI as
 * the workers' user, so they start but stay unrecorded and their own prepare step meets the fault. After
 * each repair the driver resubmits every key and, like an operator, retries each job parked because of
 * the ledger (`dlq retry` with an identity and a reason). Every accepted job must end Completed with one
 * effect per step, or stay parked with an error naming the ledger; no key is burnt.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { ConnectedJobClient } from '../../../client/connect';
import { ERROR_CLASSES } from '../../../common/errors';
import { JobStatus, jobIdFor } from '../../../common/constants';
import { SA } from '../../../common/searchAttributes';
import type { FailureContext } from '../../../common/types';
import { ROOT } from '../devserver';
import type { ChaosEnv } from '../env';
import { terminate } from '../processes';
import type { ChaosScenario, InvariantResult } from '../scenario';
import type { PoolWorker } from '../workers';
import { ORDER_TYPE, orderInput, paced, sleep } from '../workload';

type C6Params = {
  /** Orders per fault, submitted before it is injected (in flight when it hits)... */
  jobsPerFault: number;
  /** ...except these last ones, submitted while it lasts. */
  duringFault: number;
  /** Worker processes. */
  workers: number;
  /** How long each fault lasts (for `deleted`: after every worker has exited). */
  lockedMs: number;
  readOnlyMs: number;
  corruptMs: number;
  deletedMs: number;
  /** Every provider waits this long after applying an effect, so jobs are mid-step when a fault hits. */
  providerDelayMs: number;
  /** How long a fault's jobs get to settle (closed or parked) before each operator round. */
  phaseSettleMs: number;
  settleMs: number;
};

const FAULTS = ['locked', 'read-only', 'corrupt', 'deleted'] as const;
type Fault = (typeof FAULTS)[number];

/** The unprivileged user the workers run as when the driver is root (nobody on Debian). */
const WORKER_USER = { uid: 65534, gid: 65534 };
const OPERATOR = { operator: 'chaos-operator', reasonFor: (fault: Fault) => `ledger repaired after the ${fault} fault` };

const examples = (items: string[], n = 5) => `${items.slice(0, n).join('; ')}${items.length > n ? `; ... (${items.length} in all)` : ''}`;
const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
const listCounts = (counts: Record<string, number>) => Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';

interface Submission {
  orderId: string;
  fault: Fault;
  when: 'before' | 'during' | 'after-repair' | 'final';
  via: 'sdk' | 'cli';
  deduplicated?: boolean;
  error?: string;
}

/** A parked job as the operator found it. */
interface Parked {
  jobId: string;
  fault: Fault;
  phase?: string;
  step?: string;
  errorClass?: string;
  message?: string;
  retried: boolean;
  retryError?: string;
}

/** Why a parked job's failure is not a ledger fault, or undefined when it is one. */
function notLedger(failure: FailureContext | null): string | undefined {
  if (!failure) return 'no failure context';
  if (failure.errorClass === 'Validation') return 'errorClass Validation';
  if (!(failure.errorClass in ERROR_CLASSES)) return `errorClass ${failure.errorClass} is outside the taxonomy`;
  if (!/ledger/i.test(failure.message) && failure.rootCause.dependency !== 'ledger') return `the error does not name the ledger: ${failure.message.slice(0, 160)}`;
  return undefined;
}

/** The world of one C6 run: the current submission client (replaced after a file restore), the workers and what was seen. */
class LedgerChaos {
  client!: ConnectedJobClient;
  fault: Fault | 'none' = 'none';
  readonly submissions: Submission[] = [];
  readonly parked: Parked[] = [];
  /** Workers that exited on their own, with the fault in force. */
  readonly exits: { identity: string; code: number | null; fault: Fault | 'none'; afterMs: number }[] = [];
  readonly timings: Record<string, number> = {};
  /** Jobs of each fault still running when it was injected. */
  readonly inFlight: Partial<Record<Fault, number>> = {};
  private faultStartedAt = 0;

  constructor(
    readonly env: ChaosEnv,
    readonly p: C6Params,
    /** Run the workers as this user (when the driver is root), so that file modes apply to them. */
    readonly as: { uid: number; gid: number } | undefined,
  ) {}

  markFault(fault: Fault | 'none'): void {
    this.fault = fault;
    this.faultStartedAt = Date.now();
  }

  async startWorkers(count: number): Promise<PoolWorker[]> {
    const started = this.env.workers.start(count, this.as);
    for (const w of started) {
      void w.process.exited.then(({ code }) => {
        if (!w.process.stopping) this.exits.push({ identity: w.identity, code, fault: this.fault, afterMs: Date.now() - this.faultStartedAt });
      });
    }
    await this.env.workers.waitReady(started);
    return started;
  }

  /** SIGTERM every live worker (SIGKILL after 10 s) and waits for the exits. */
  async stopWorkers(): Promise<number> {
    const live = this.env.workers.live();
    await Promise.all(live.map((w) => terminate(w.process, 10_000)));
    return live.length;
  }

  /** Files the ledger's owner must own: the workers create them, the driver (root) restores one. */
  ownLedger(): void {
    if (!this.as) return;
    for (const file of this.ledgerFiles()) chownSync(file, this.as.uid, this.as.gid);
  }

  ledgerFiles(): string[] {
    const path = this.env.ledgerPath;
    return [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f));
  }

  async submit(orderId: string, fault: Fault, when: Submission['when']): Promise<Submission> {
    const s: Submission = { orderId, fault, when, via: 'sdk' };
    try {
      const result = await this.client.client.connection.withDeadline(Date.now() + 20_000, () => this.client.jobs.submit(ORDER_TYPE, orderInput(orderId)));
      s.deduplicated = result.deduplicated;
    } catch (err) {
      s.error = err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
    }
    this.submissions.push(s);
    return s;
  }

  /** A submission through the CLI as a child process, as the workers' user (so the driver's event loop never waits on a lock, and file modes apply). */
  async submitViaCli(orderId: string, fault: Fault, when: Submission['when']): Promise<Submission> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'client/cli.ts', 'submit', ORDER_TYPE, '--input', JSON.stringify(orderInput(orderId)), '--json'], {
      cwd: ROOT,
      env: this.env.cliEnv('chaos-cli'),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...this.as,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(timer);
    const s: Submission = { orderId, fault, when, via: 'cli' };
    if (code === 0) s.deduplicated = (JSON.parse(stdout) as { deduplicated: boolean }).deduplicated;
    else {
      const last = stderr.trim().split('\n').at(-1) ?? '';
      let body: { error?: string; message?: string } = { message: last };
      try {
        body = JSON.parse(last) as typeof body;
      } catch {
        // not JSON: keep the line
      }
      s.error = `exit ${code}: ${body.error ?? ''} ${body.message ?? ''}`.trim();
    }
    this.submissions.push(s);
    return s;
  }

  /** Describes jobs until each is closed or parked, at most `limitMs`. */
  async settle(jobIds: string[], limitMs: number): Promise<Map<string, { workflow: string; status?: string }>> {
    const deadline = Date.now() + limitMs;
    const states = new Map<string, { workflow: string; status?: string }>();
    for (;;) {
      for (const jobId of jobIds) {
        const known = states.get(jobId);
        if (known && (known.workflow !== 'RUNNING' || known.status === JobStatus.DeadLettered)) continue;
        try {
          const d = await this.env.main.client.workflow.getHandle(jobId).describe();
          states.set(jobId, { workflow: d.status.name, status: d.typedSearchAttributes.get(SA.JobStatus) });
        } catch (err) {
          states.set(jobId, { workflow: `not found (${(err as Error).name})` });
        }
      }
      const pending = jobIds.filter((id) => {
        const s = states.get(id)!;
        return s.workflow === 'RUNNING' && s.status !== JobStatus.DeadLettered;
      });
      if (pending.length === 0 || Date.now() > deadline) return states;
      await sleep(1_000);
    }
  }

  /** Retries, as an operator, every parked job of `jobIds` whose failure is the ledger's, until none is parked (bounded rounds). */
  async resolveParked(fault: Fault, jobIds: string[]): Promise<void> {
    for (let round = 1; round <= 4; round++) {
      const states = await this.settle(jobIds, this.p.phaseSettleMs);
      const parked = jobIds.filter((id) => states.get(id)?.status === JobStatus.DeadLettered && states.get(id)?.workflow === 'RUNNING');
      if (parked.length === 0) return;
      let retried = 0;
      for (const jobId of parked) {
        const failure = await this.client.jobs.diagnose(jobId).catch(() => null);
        const seen: Parked = {
          jobId,
          fault,
          ...(failure && { phase: failure.phase, step: failure.step, errorClass: failure.errorClass, message: failure.message }),
          retried: false,
        };
        this.parked.push(seen);
        if (notLedger(failure)) continue; // left parked: the checks report it
        try {
          await this.client.jobs.act(jobId, { action: 'retry', operator: OPERATOR.operator, reason: OPERATOR.reasonFor(fault) });
          seen.retried = true;
          retried += 1;
        } catch (err) {
          seen.retryError = err instanceof Error ? err.message : String(err);
        }
      }
      this.env.note(`operator round ${round} after ${fault}: ${parked.length} parked, ${retried} retried`);
      if (retried === 0) return;
    }
  }
}

/** A fault: `inject` starts it, `remove` repairs it (restarting workers where they exited or must reopen the file). */
interface FaultPlan {
  durationMs: number;
  inject(): Promise<string>;
  remove(): Promise<string>;
}

function faultPlans(c: LedgerChaos): Record<Fault, FaultPlan> {
  const { env, p } = c;
  const path = env.ledgerPath;
  let holder: Database.Database | undefined;
  let snapshot: Buffer | undefined;

  /**
   * Takes the write lock with the WAL empty (so every page is read from the main file, where damage goes,
   * and no other connection can commit after the copy), copies the content, then applies `damage` while
   * still holding the lock.
   */
  const underLock = (damage: (db: Database.Database) => void): void => {
    const db = new Database(path);
    try {
      db.pragma('busy_timeout = 5000');
      db.pragma('cache_size = -262144'); // the whole file fits, so this connection can still write after the damage
      for (let attempt = 1; ; attempt++) {
        db.pragma('wal_checkpoint(TRUNCATE)');
        db.exec('BEGIN IMMEDIATE');
        if (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size === 0) break;
        db.exec('ROLLBACK'); // a writer came in between: again
        if (attempt === 50) throw new Error('could not take the ledger write lock with an empty WAL in 50 attempts');
      }
      snapshot = db.serialize();
      damage(db);
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
  };

  /** The operator's restore: every process off the damaged file first (its last connection removes the WAL), then the copy, then new workers. */
  const restore = async (): Promise<string> => {
    const stopped = await c.stopWorkers();
    await c.client.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    writeFileSync(path, snapshot!);
    c.ownLedger();
    c.markFault('none');
    await c.startWorkers(p.workers);
    c.client = await env.newJobClient();
    return `${stopped} workers stopped, the copy (${snapshot!.length} bytes) restored, ${p.workers} new workers ready`;
  };

  return {
    locked: {
      durationMs: p.lockedMs,
      async inject() {
        holder = new Database(path);
        holder.pragma('busy_timeout = 15000');
        holder.exec('BEGIN IMMEDIATE');
        return 'another connection holds BEGIN IMMEDIATE on the ledger';
      },
      async remove() {
        holder!.exec('ROLLBACK');
        holder!.close();
        return 'lock released';
      },
    },
    'read-only': {
      durationMs: p.readOnlyMs,
      async inject() {
        // Permissions are checked at open(): running workers keep writable handles, so they are restarted onto the read-only file.
        for (const file of c.ledgerFiles()) chmodSync(file, 0o444);
        const stopped = await c.stopWorkers();
        await c.startWorkers(p.workers);
        return `ledger files chmod 0444, ${stopped} workers restarted as uid ${c.as?.uid ?? process.getuid?.()} (they open it read-only)`;
      },
      async remove() {
        for (const file of c.ledgerFiles()) chmodSync(file, 0o644);
        const stopped = await c.stopWorkers();
        c.markFault('none');
        await c.startWorkers(p.workers);
        return `ledger files chmod 0644, ${stopped} workers restarted`;
      },
    },
    corrupt: {
      durationMs: p.corruptMs,
      async inject() {
        let pages = 0;
        underLock((db) => {
          const pageSize = db.pragma('page_size', { simple: true }) as number;
          const fd = openSync(path, 'r+');
          try {
            const junk = Buffer.alloc(100, 'CORRUPT!');
            const size = snapshot!.length;
            for (let offset = 0; offset < size; offset += pageSize, pages++) writeSync(fd, junk, 0, offset === 0 ? 100 : 32, offset);
          } finally {
            closeSync(fd);
          }
          // A committed write makes every other connection drop its page cache, so none keeps working from memory.
          db.exec('UPDATE schema_migrations SET applied_at = applied_at');
          db.exec('COMMIT');
        });
        return `file header and ${pages - 1} page headers overwritten in place (copy of ${snapshot!.length} bytes taken under the write lock)`;
      },
      remove: restore,
    },
    deleted: {
      durationMs: p.deletedMs,
      async inject() {
        underLock(() => rmSync(path));
        // Each worker's health check notices the missing file and stops it (exit 1).
        const deadline = Date.now() + 60_000;
        while (env.workers.live().length > 0 && Date.now() < deadline) await sleep(250);
        const left = env.workers.live().length;
        return `ledger unlinked (copy of ${snapshot!.length} bytes taken under the write lock); ${left === 0 ? 'every worker exited' : `${left} workers still running after 60 s`}`;
      },
      remove: restore,
    },
  };
}

export const c6LedgerFaults: ChaosScenario<C6Params> = {
  id: 'C6',
  title: 'ledger locked, read-only, corrupt and deleted under running order jobs; operator retries after each repair',
  full: { jobsPerFault: 24, duringFault: 4, workers: 2, lockedMs: 12_000, readOnlyMs: 20_000, corruptMs: 15_000, deletedMs: 5_000, providerDelayMs: 1_500, phaseSettleMs: 120_000, settleMs: 240_000 },
  smoke: { jobsPerFault: 6, duringFault: 3, workers: 2, lockedMs: 10_000, readOnlyMs: 18_000, corruptMs: 10_000, deletedMs: 3_000, providerDelayMs: 1_500, phaseSettleMs: 90_000, settleMs: 120_000 },

  async run(env, p) {
    const root = process.getuid?.() === 0;
    const c = new LedgerChaos(env, p, root ? WORKER_USER : undefined);
    if (c.as) chownSync(env.dir, c.as.uid, c.as.gid); // the workers create the ledger, its WAL and the breaker file
    await c.startWorkers(p.workers);
    env.note(`${p.workers} workers ready${c.as ? ` as uid ${c.as.uid}` : ''}; ledger ${env.ledgerPath}`);
    // Submissions never use env.main: its ledger handle must stay unopened until the checks (a restored file is a new inode).
    c.client = await env.newJobClient();
    for (const provider of [env.sandbox.inventory, env.sandbox.payments, env.sandbox.email]) provider.setFaults({ delayAfterApplyMs: p.providerDelayMs });
    const plans = faultPlans(c);
    const faultLog: Record<string, string> = {};

    for (const fault of FAULTS) {
      const orderIds = Array.from({ length: p.jobsPerFault }, (_, i) => `c6-${fault}-${String(i).padStart(3, '0')}`);
      const before = orderIds.length - p.duringFault;
      await paced(orderIds.slice(0, before), 3_000, 4, (id) => c.submit(id, fault, 'before'));
      await sleep(1_500); // they are in flight
      const states = await c.settle(orderIds.slice(0, before).map((id) => jobIdFor(ORDER_TYPE, id)), 0);
      c.inFlight[fault] = [...states.values()].filter((s) => s.workflow === 'RUNNING' && s.status !== JobStatus.DeadLettered).length;
      const plan = plans[fault];
      c.markFault(fault);
      faultLog[`${fault} injected`] = await plan.inject();
      const injectedAt = Date.now(); // the fault lasts its duration from here (after any worker restart it needs)
      env.note(`${fault}: ${faultLog[`${fault} injected`]}`);
      // The rest arrives during the fault. Locked and read-only: through the CLI as the workers' user, whose ledger write
      // then fails after the workflow started, so the job's own prepare step has to record it (and meets the fault too).
      const viaCli = fault === 'locked' || fault === 'read-only';
      const during = paced(orderIds.slice(before), Math.min(plan.durationMs / 3, 4_000), p.duringFault, (id) => (viaCli ? c.submitViaCli(id, fault, 'during') : c.submit(id, fault, 'during')));
      await sleep(plan.durationMs);
      if (!viaCli) await during; // the client is replaced by a restore; its submissions fail fast under these faults
      c.timings[`${fault}Ms`] = Date.now() - injectedAt;
      faultLog[`${fault} removed`] = await plan.remove();
      await during;
      c.markFault('none');
      env.note(`${fault} removed after ${c.timings[`${fault}Ms`]} ms: ${faultLog[`${fault} removed`]}`);

      // After the repair: every key again (a job started but not acknowledged is found), then the operator's retries.
      for (const id of orderIds) await c.submit(id, fault, 'after-repair');
      await c.resolveParked(fault, orderIds.map((id) => jobIdFor(ORDER_TYPE, id)));
    }

    const orderIds = [...new Set(c.submissions.map((s) => s.orderId))];
    const accepted = orderIds.filter((id) => c.submissions.some((s) => s.orderId === id && !s.error)).map((id) => jobIdFor(ORDER_TYPE, id));
    const finalStates = await c.settle(accepted, p.phaseSettleMs);
    for (const id of orderIds) await c.submit(id, c.submissions.find((s) => s.orderId === id)!.fault, 'final');

    const checks = async (): Promise<InvariantResult[]> => {
      const byFault = (fault: Fault) => c.submissions.filter((s) => s.fault === fault);
      const evidence = Object.fromEntries(FAULTS.map((fault) => {
        const refused = byFault(fault).filter((s) => s.when === 'during' && s.error).length;
        const parkedJobs = new Set(c.parked.filter((x) => x.fault === fault).map((x) => x.jobId)).size;
        const atPrepare = new Set(c.parked.filter((x) => x.fault === fault && x.phase === 'prepare').map((x) => x.jobId)).size;
        const exited = c.exits.filter((e) => e.fault === fault).length;
        return [fault, { refused, parkedJobs, atPrepare, exited }];
      })) as Record<Fault, { refused: number; parkedJobs: number; atPrepare: number; exited: number }>;
      const deletedExits = c.exits.filter((e) => e.fault === 'deleted');
      const otherExits = c.exits.filter((e) => e.fault !== 'deleted');

      const notLedgerParked = c.parked.filter((x) => notLedger(x.errorClass === undefined ? null : ({ errorClass: x.errorClass, message: x.message ?? '', rootCause: {} } as FailureContext)));
      const retryFailures = c.parked.filter((x) => x.retryError);
      const badEnds: string[] = [];
      for (const jobId of accepted) {
        const o = finalStates.get(jobId);
        if (o?.status === JobStatus.Completed && o.workflow === 'COMPLETED') continue;
        if (o?.status === JobStatus.DeadLettered && o.workflow === 'RUNNING') {
          const last = c.parked.filter((x) => x.jobId === jobId).at(-1);
          if (last && !notLedger({ errorClass: last.errorClass, message: last.message ?? '', rootCause: {} } as FailureContext)) continue;
        }
        badEnds.push(`${jobId}: workflow ${o?.workflow}, JobStatus ${o?.status ?? '(unset)'}`);
      }
      const burnt: string[] = [];
      for (const id of orderIds) {
        const mine = c.submissions.filter((s) => s.orderId === id);
        const acknowledgedBefore = mine.some((s) => (s.when === 'before' || s.when === 'during') && !s.error);
        const afterRepair = mine.find((s) => s.when === 'after-repair');
        const final = mine.find((s) => s.when === 'final');
        if (!afterRepair || afterRepair.error) burnt.push(`${id}: resubmission after the repair failed (${afterRepair?.error})`);
        else if (acknowledgedBefore && !afterRepair.deduplicated) burnt.push(`${id}: acknowledged before, but the resubmission after the repair started a new job`);
        if (!final || final.error || !final.deduplicated) burnt.push(`${id}: final resubmission ${final?.error ?? 'started a new job'}`);
        const state = finalStates.get(jobIdFor(ORDER_TYPE, id))?.status;
        if (state !== JobStatus.Completed && state !== JobStatus.DeadLettered) burnt.push(`${id}: the key's job is ${state ?? 'unknown'}`);
      }
      const finalStatuses = tally(accepted.map((id) => finalStates.get(id)?.status ?? '(unset)'));

      return [
        {
          name: 'faults-injected-and-removed',
          ok: FAULTS.every((f) => faultLog[`${f} injected`] && faultLog[`${f} removed`]) && deletedExits.length >= p.workers && deletedExits.every((e) => e.code === 1),
          detail: `${FAULTS.map((f) => `${f} ${((c.timings[`${f}Ms`] ?? 0) / 1000).toFixed(1)} s (${faultLog[`${f} injected`]}; ${faultLog[`${f} removed`]})`).join(' | ')}; after the unlink ${deletedExits.length} workers exited on their own (codes ${deletedExits.map((e) => e.code).join(', ') || '-'}, within ${Math.max(0, ...deletedExits.map((e) => e.afterMs))} ms)`,
        },
        {
          name: 'each-fault-hit-the-workload',
          // Read-only fails fast, so a job that meets it at prepare parks there within the fault; the deletion stops every worker.
          ok: FAULTS.every((f) => (c.inFlight[f] ?? 0) > 0 && evidence[f].refused + evidence[f].parkedJobs + evidence[f].exited > 0) && evidence['read-only'].atPrepare > 0,
          detail: FAULTS.map((f) => `${f}: ${c.inFlight[f] ?? 0} jobs in flight when injected, ${evidence[f].refused} submissions answered with an error during it, ${evidence[f].parkedJobs} jobs parked (${evidence[f].atPrepare} at prepare), ${evidence[f].exited} workers exited`).join('; '),
        },
        {
          name: 'parked-only-by-the-ledger',
          ok: notLedgerParked.length === 0 && retryFailures.length === 0,
          detail: notLedgerParked.length === 0 && retryFailures.length === 0
            ? `${c.parked.length} parkings seen (${listCounts(tally(c.parked.map((x) => `${x.phase}:${x.errorClass}`)))}), each naming the ledger, never Validation; ${c.parked.filter((x) => x.retried).length} operator retries accepted`
            : `${notLedgerParked.length} parked for another reason: ${examples(notLedgerParked.map((x) => `${x.jobId} at ${x.phase} ${x.step} (${x.errorClass}): ${x.message?.slice(0, 140)}`))}${retryFailures.length ? `; ${retryFailures.length} retries refused: ${examples(retryFailures.map((x) => `${x.jobId}: ${x.retryError}`))}` : ''}`,
        },
        {
          name: 'completed-or-parked-on-the-ledger',
          ok: badEnds.length === 0 && accepted.length === orderIds.length,
          detail: badEnds.length === 0
            ? `${accepted.length} accepted jobs (of ${orderIds.length} keys): ${listCounts(finalStatuses)}`
            : `${badEnds.length} jobs neither Completed nor parked on a ledger error: ${examples(badEnds)}`,
        },
        {
          name: 'no-key-burnt',
          ok: burnt.length === 0,
          detail: burnt.length === 0
            ? `every key resubmitted after its repair (${c.submissions.filter((s) => s.when === 'after-repair' && s.deduplicated).length} deduplicated, ${c.submissions.filter((s) => s.when === 'after-repair' && !s.deduplicated).length} refused during the fault and started now) and at the end: deduplicated onto a Completed or parked job`
            : `${burnt.length} problem(s): ${examples(burnt)}`,
        },
        {
          name: 'workers-exit-only-when-the-file-goes',
          ok: otherExits.length === 0,
          detail: otherExits.length === 0 ? `no worker exited on its own outside the deleted fault (${c.env.workers.started} started in all)` : `${otherExits.length} exits: ${examples(otherExits.map((e) => `${e.identity} code ${e.code} during ${e.fault}`))}`,
        },
      ];
    };

    return {
      workload: `${orderIds.length} order.fulfill jobs (${p.jobsPerFault} per fault, ${p.duringFault} of them submitted during it), ${p.workers} worker processes${c.as ? ` as uid ${c.as.uid}` : ''} on one ledger file`,
      faults: FAULTS.map((f) => `${f} ${((c.timings[`${f}Ms`] ?? 0) / 1000).toFixed(0)} s`).join(', ') + '; operator retries of ledger-parked jobs after each repair',
      accepted,
      observed: {
        keys: orderIds.length,
        accepted: accepted.length,
        errorsDuringFaults: c.submissions.filter((s) => s.when === 'during' && s.error).length,
        submissionErrors: tally(c.submissions.filter((s) => s.error).map((s) => `${s.fault}: ${s.error!.replace(/\/[^\s:)]+/g, '<path>').slice(0, 90)}`)),
        parkings: c.parked.length,
        operatorRetries: c.parked.filter((x) => x.retried).length,
        inFlightAtInjection: FAULTS.map((f) => `${f} ${c.inFlight[f] ?? 0}`).join(', '),
        workerExits: c.exits.length,
        workersStarted: env.workers.started,
        ...c.timings,
      },
      checks,
    };
  },
};
