/**
 * SQLite implementation of the ledger backend (better-sqlite3). One database
 * file is shared by several processes on one host (a client and some
 * workers), so it runs in WAL mode with a busy timeout, and every write
 * transaction starts with BEGIN IMMEDIATE to take the write lock up front.
 * The schema is created by versioned migrations recorded in
 * `schema_migrations`; the `ledger_events` table refuses UPDATE and DELETE
 * through triggers, so the audit trail is append-only at the store level.
 * Opening a file whose schema is current only reads, so read-only users never
 * wait for a writer. The file's device and inode are remembered at open and
 * compared with the path before every operation, again once a transaction holds
 * the write lock, and on `checkHealth`, so a
 * ledger deleted or replaced under a running process is noticed instead of
 * written to; storage faults surface as LedgerUnavailableError naming the path.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { GuardedLedgerBackend, type EventQuery, type JobQuery, type LedgerBackend, type LedgerStore, type LedgerTx, type Migration, type SqlHandle } from './backend';
import type { RecordedStatus } from '../common/constants';
import { LedgerUnavailableError, type JobRecord, type LedgerEvent, type NewLedgerEvent, type StepRecord, type StepState } from './types';

export interface SqliteLedgerOptions {
  /**
   * How long a writer waits for another process's lock before failing, in ms. The wait is asynchronous
   * (short tries with pauses between them), so a locked ledger never stalls the process's event loop:
   * provider calls, heartbeats and timers go on. Default: 5000.
   */
  busyTimeoutMs?: number;
  /**
   * WAL size in pages at which a commit checkpoints the WAL into the database
   * file. Each checkpoint costs two fsyncs (about 2-3 ms here) inside the
   * commit that triggers it, so a larger WAL makes those stalls rarer.
   * Default: 4000 (about 16 MiB at 4 KiB pages; SQLite's own default is 1000).
   */
  walAutocheckpointPages?: number;
}

/** Ordered schema migrations; append new ones, never edit applied ones. */
const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'jobs, steps and append-only ledger_events',
    sql: `
      CREATE TABLE jobs (
        job_key            TEXT PRIMARY KEY,
        job_id             TEXT NOT NULL UNIQUE,
        job_type           TEXT NOT NULL,
        idempotency_key    TEXT NOT NULL,
        input_hash         TEXT NOT NULL,
        status             TEXT NOT NULL,
        outcome            TEXT,
        submitted_by       TEXT NOT NULL,
        definition_version TEXT NOT NULL,
        run_id             TEXT,
        dedupe_until       INTEGER NOT NULL,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        version            INTEGER NOT NULL
      );
      CREATE INDEX jobs_type_status ON jobs (job_type, status);

      CREATE TABLE steps (
        key              TEXT PRIMARY KEY,
        job_id           TEXT NOT NULL,
        step             TEXT NOT NULL,
        state            TEXT NOT NULL,
        request_hash     TEXT NOT NULL,
        owner            TEXT NOT NULL,
        attempt          INTEGER NOT NULL,
        lease_expires_at INTEGER,
        result           TEXT,
        error            TEXT,
        version          INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX steps_job ON steps (job_id);

      CREATE TABLE ledger_events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id      TEXT NOT NULL,
        step_key    TEXT,
        kind        TEXT NOT NULL,
        data        TEXT,
        recorded_at INTEGER NOT NULL
      );
      CREATE INDEX ledger_events_job ON ledger_events (job_id, seq);

      CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
      BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: UPDATE refused'); END;
      CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
      BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: DELETE refused'); END;
    `,
  },
];

type Row = Record<string, unknown>;

/**
 * Serialises transactions of all connections to one file within this process.
 * better-sqlite3 is synchronous: if a second connection ran BEGIN IMMEDIATE
 * while the first awaited inside its transaction, it would block the only
 * thread until the busy timeout. So callers queue here in JS instead.
 */
interface TxGate {
  /** Settles when the currently open transaction ends; null when none is open. */
  open: Promise<void> | null;
}
const gatesByFile = new Map<string, TxGate>();

function gateFor(path: string): TxGate {
  if (path === ':memory:' || path === '') return { open: null };
  const file = resolve(path);
  let gate = gatesByFile.get(file);
  if (!gate) {
    gate = { open: null };
    gatesByFile.set(file, gate);
  }
  return gate;
}

function toJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

function fromJson(text: unknown): unknown {
  return typeof text === 'string' ? JSON.parse(text) : null;
}

function stepFromRow(r: Row): StepRecord {
  return {
    key: r.key as string,
    jobId: r.job_id as string,
    step: r.step as string,
    state: r.state as StepState,
    requestHash: r.request_hash as string,
    owner: r.owner as string,
    attempt: r.attempt as number,
    leaseExpiresAt: (r.lease_expires_at as number | null) ?? null,
    result: fromJson(r.result),
    error: fromJson(r.error),
    version: r.version as number,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

function jobFromRow(r: Row): JobRecord {
  return {
    jobKey: r.job_key as string,
    jobId: r.job_id as string,
    jobType: r.job_type as string,
    idempotencyKey: r.idempotency_key as string,
    inputHash: r.input_hash as string,
    status: r.status as RecordedStatus,
    outcome: fromJson(r.outcome),
    submittedBy: r.submitted_by as string,
    definitionVersion: r.definition_version as string,
    runId: (r.run_id as string | null) ?? null,
    dedupeUntil: r.dedupe_until as number,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    version: r.version as number,
  };
}

/** The named parameters of a record's row: each field under its snake_case column, the `json` fields as JSON text. */
function rowParams(record: object, json: readonly string[]): Row {
  const row: Row = {};
  for (const [field, value] of Object.entries(record)) {
    row[field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = json.includes(field) ? toJson(value) : value;
  }
  return row;
}
const stepParams = (record: StepRecord): Row => rowParams(record, ['result', 'error']);
const jobParams = (record: JobRecord): Row => rowParams(record, ['outcome']);

function eventFromRow(r: Row): LedgerEvent {
  return {
    seq: r.seq as number,
    jobId: r.job_id as string,
    stepKey: (r.step_key as string | null) ?? null,
    kind: r.kind as string,
    data: fromJson(r.data),
    recordedAt: r.recorded_at as number,
  };
}

/** The highest migration recorded in the file; 0 for a new file. A plain read. */
function appliedVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies pending migrations in one IMMEDIATE transaction (safe when several processes open the file at
 * once). When none is pending it only reads, so opening never waits for another process's write lock.
 */
function migrate(db: Database.Database): void {
  const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
  if (appliedVersion(db) >= latest) return;
  const apply = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
    const current = appliedVersion(db);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
  });
  apply.immediate();
}

function prepareStatements(db: Database.Database) {
  return {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),

    getStep: db.prepare('SELECT * FROM steps WHERE key = ?'),
    listSteps: db.prepare('SELECT * FROM steps WHERE job_id = ? ORDER BY created_at, key'),
    insertStep: db.prepare(`INSERT INTO steps
      (key, job_id, step, state, request_hash, owner, attempt, lease_expires_at, result, error, version, created_at, updated_at)
      VALUES (@key, @job_id, @step, @state, @request_hash, @owner, @attempt, @lease_expires_at, @result, @error, @version, @created_at, @updated_at)
      ON CONFLICT (key) DO NOTHING`),
    // Only the mutable columns are set, so SQLite leaves the steps_job index untouched.
    casStep: db.prepare(`UPDATE steps SET
      state = @state, request_hash = @request_hash, owner = @owner, attempt = @attempt,
      lease_expires_at = @lease_expires_at, result = @result, error = @error, version = @version,
      updated_at = @updated_at
      WHERE key = @key AND version = @expected_version`),

    getJob: db.prepare('SELECT * FROM jobs WHERE job_key = ?'),
    getJobById: db.prepare('SELECT * FROM jobs WHERE job_id = ?'),
    listJobs: db.prepare(`SELECT * FROM jobs
      WHERE (@type IS NULL OR job_type = @type) AND (@status IS NULL OR status = @status)
      ORDER BY created_at, job_key`),
    insertJob: db.prepare(`INSERT INTO jobs
      (job_key, job_id, job_type, idempotency_key, input_hash, status, outcome, submitted_by, definition_version,
       run_id, dedupe_until, created_at, updated_at, version)
      VALUES (@job_key, @job_id, @job_type, @idempotency_key, @input_hash, @status, @outcome, @submitted_by,
       @definition_version, @run_id, @dedupe_until, @created_at, @updated_at, @version)
      ON CONFLICT (job_key) DO NOTHING`),
    casJob: db.prepare(`UPDATE jobs SET
      job_id = @job_id, job_type = @job_type, idempotency_key = @idempotency_key, input_hash = @input_hash,
      status = @status, outcome = @outcome, submitted_by = @submitted_by, definition_version = @definition_version,
      run_id = @run_id, dedupe_until = @dedupe_until, created_at = @created_at, updated_at = @updated_at,
      version = @version
      WHERE job_key = @job_key AND version = @expected_version`),

    appendEvent: db.prepare(`INSERT INTO ledger_events (job_id, step_key, kind, data, recorded_at)
      VALUES (?, ?, ?, ?, ?)`),
    listEvents: db.prepare('SELECT * FROM ledger_events WHERE seq > ? ORDER BY seq LIMIT ?'),
    listJobEvents: db.prepare('SELECT * FROM ledger_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
    listEventsNewestFirst: db.prepare('SELECT * FROM ledger_events WHERE seq > ? ORDER BY seq DESC LIMIT ?'),
    listJobEventsNewestFirst: db.prepare('SELECT * FROM ledger_events WHERE job_id = ? AND seq > ? ORDER BY seq DESC LIMIT ?'),
  };
}

/** The longest a single statement may block the thread waiting for a lock, in ms. */
const SYNC_LOCK_WAIT_MS = 25;

/** SQLite result codes that mean the file itself cannot be used, as opposed to a caller's SQL being wrong. */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|CORRUPT|NOTADB|CANTOPEN|READONLY|PERM|FULL|AUTH)/;

/** `err` as a LedgerUnavailableError if it is a storage fault of the file at `path`; otherwise `err` itself. */
function storageFault(path: string, err: unknown): unknown {
  if (err instanceof Database.SqliteError && UNAVAILABLE_CODES.test(err.code)) {
    return new LedgerUnavailableError(path, `${err.message} (${err.code})`, { cause: err });
  }
  return err;
}

/** Which file a path names: device and inode. */
interface FileIdentity {
  dev: number;
  ino: number;
}

export class SqliteLedgerBackend extends GuardedLedgerBackend implements LedgerBackend {
  private readonly path: string;
  /** The path made absolute, so a later chdir cannot change which file is checked. */
  private readonly file: string;
  /** The file opened, or null for an in-memory database. */
  private readonly identity: FileIdentity | null;
  private readonly db: Database.Database;
  private readonly stmt: ReturnType<typeof prepareStatements>;
  private readonly sqlCache = new Map<string, Database.Statement>();
  /** The record operations, run directly on the connection (no transaction gate). */
  protected readonly store: LedgerStore;
  private readonly tx: LedgerTx;
  private readonly gate: TxGate;
  /** How long a write waits for another connection's lock, in ms (see `busyTimeoutMs`). */
  private readonly lockWaitMs: number;

  /** Opens (or creates) the file; throws LedgerUnavailableError naming `path` if it cannot be used. */
  constructor(path: string, options: SqliteLedgerOptions = {}) {
    super();
    this.path = path;
    this.file = resolve(path);
    this.gate = gateFor(path);
    this.lockWaitMs = options.busyTimeoutMs ?? 5000;
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma(`busy_timeout = ${this.lockWaitMs}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma(`wal_autocheckpoint = ${options.walAutocheckpointPages ?? 4000}`);
      migrate(db);
      // From now on a statement blocks the thread for a lock at most this long; longer waits are
      // asynchronous retries (waitForLock).
      db.pragma(`busy_timeout = ${Math.min(SYNC_LOCK_WAIT_MS, this.lockWaitMs)}`);
      this.stmt = prepareStatements(db);
      const stat = db.memory ? null : statSync(this.file);
      this.identity = stat && { dev: stat.dev, ino: stat.ino };
    } catch (err) {
      db?.close();
      const fault = storageFault(path, err);
      throw fault instanceof LedgerUnavailableError ? fault : new LedgerUnavailableError(path, (err as Error).message, { cause: err });
    }
    this.db = db;
    this.store = this.makeStore();
    this.tx = { ...this.store, sql: this.makeSqlHandle() };
  }

  async transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T> {
    while (this.gate.open) await this.gate.open; // the check and the claim below happen in one turn
    let release!: () => void;
    this.gate.open = new Promise<void>((done) => (release = done));
    try {
      await this.waitForLock(async () => this.stmt.begin.run());
      try {
        // Once the lock is ours, so a file deleted or replaced while BEGIN waited for it is noticed too.
        this.assertSameFile();
        const out = await fn(this.tx);
        this.stmt.commit.run();
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.stmt.rollback.run();
        throw err;
      }
    } catch (err) {
      throw storageFault(this.path, err);
    } finally {
      this.gate.open = null;
      release();
    }
  }

  async checkHealth(): Promise<void> {
    this.assertSameFile();
  }

  async close(): Promise<void> {
    while (this.gate.open) await this.gate.open;
    this.db.close();
  }

  /**
   * Runs a record operation outside any transaction: it first waits until no
   * transaction on this file is open in this process, then runs `op` in the
   * same turn, so its statements neither slip into another caller's
   * transaction nor block on another connection's lock.
   */
  protected async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await this.waitForLock(async () => {
        while (this.gate.open) await this.gate.open;
        this.assertSameFile();
        return op();
      });
    } catch (err) {
      throw storageFault(this.path, err);
    }
  }

  /**
   * Runs `attempt` (one statement, or BEGIN) until it is not refused for another connection's lock, with
   * growing pauses between tries, for at most `lockWaitMs`. Each try blocks the thread for at most
   * SYNC_LOCK_WAIT_MS, so the event loop keeps running while the lock is held elsewhere.
   */
  private async waitForLock<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.lockWaitMs;
    for (let pause = 5; ; pause = Math.min(2 * pause, 100)) {
      try {
        return await attempt();
      } catch (err) {
        const busy = err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY');
        if (!busy || Date.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  /** Throws LedgerUnavailableError unless the path still names the file opened (same device and inode). */
  private assertSameFile(): void {
    if (!this.identity) return;
    let stat;
    try {
      stat = statSync(this.file, { throwIfNoEntry: false });
    } catch (err) {
      throw new LedgerUnavailableError(this.path, `cannot stat the file: ${(err as Error).message}`, { cause: err });
    }
    if (!stat) throw new LedgerUnavailableError(this.path, 'the file was deleted after it was opened');
    if (stat.dev !== this.identity.dev || stat.ino !== this.identity.ino) {
      throw new LedgerUnavailableError(this.path, 'the file was replaced after it was opened (its device or inode changed)');
    }
  }

  private makeStore(): LedgerStore {
    const s = this.stmt;
    return {
      getStep: async (key) => {
        const row = s.getStep.get(key) as Row | undefined;
        return row ? stepFromRow(row) : undefined;
      },
      listSteps: async (jobId) => (s.listSteps.all(jobId) as Row[]).map(stepFromRow),
      putStepIfAbsent: async (record) => s.insertStep.run(stepParams(record)).changes === 1,
      compareAndSetStep: async (record, expectedVersion) =>
        s.casStep.run({ ...stepParams(record), expected_version: expectedVersion }).changes === 1,

      getJob: async (key) => {
        const row = s.getJob.get(key) as Row | undefined;
        return row ? jobFromRow(row) : undefined;
      },
      getJobById: async (jobId) => {
        const row = s.getJobById.get(jobId) as Row | undefined;
        return row ? jobFromRow(row) : undefined;
      },
      listJobs: async (query = {}) =>
        (s.listJobs.all({ type: query.type ?? null, status: query.status ?? null }) as Row[]).map(jobFromRow),
      putJobIfAbsent: async (record) => s.insertJob.run(jobParams(record)).changes === 1,
      compareAndSetJob: async (record, expectedVersion) =>
        s.casJob.run({ ...jobParams(record), expected_version: expectedVersion }).changes === 1,

      appendEvent: async (e) =>
        Number(s.appendEvent.run(e.jobId, e.stepKey, e.kind, toJson(e.data), e.recordedAt).lastInsertRowid),
      listEvents: async (query = {}) => {
        const after = query.afterSeq ?? 0;
        const limit = query.limit ?? -1; // SQLite: a negative LIMIT means no limit
        const [all, ofJob] = query.newestFirst ? [s.listEventsNewestFirst, s.listJobEventsNewestFirst] : [s.listEvents, s.listJobEvents];
        const rows = query.jobId === undefined ? all.all(after, limit) : ofJob.all(query.jobId, after, limit);
        return (rows as Row[]).map(eventFromRow);
      },
    };
  }

  private makeSqlHandle(): SqlHandle {
    const prepared = (sql: string) => {
      let st = this.sqlCache.get(sql);
      if (!st) {
        st = this.db.prepare(sql);
        this.sqlCache.set(sql, st);
      }
      return st;
    };
    return {
      run: async (sql, params = []) => void prepared(sql).run(...params),
      all: async (sql, params = []) => prepared(sql).all(...params) as Row[],
    };
  }
}
