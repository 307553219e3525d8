/**
 * PostgreSQL implementation of the ledger backend (`pg`, one connection pool), for a ledger shared by
 * clients and workers on many hosts. The schema comes from versioned migrations recorded in
 * `schema_migrations`, applied in order in one transaction under an advisory lock, so processes opening
 * the same database at once apply each migration exactly once. Inserts are `INSERT ... ON CONFLICT DO
 * NOTHING RETURNING`, compare-and-set is `UPDATE ... WHERE version = $n RETURNING`: one round trip each.
 * Event sequence numbers come from an identity column; every append takes a transaction-scoped advisory
 * lock first, so events become visible in `seq` order and a reader paging with `afterSeq` never skips an
 * event that committed after a later one. `ledger_events` refuses UPDATE, DELETE and TRUNCATE through
 * triggers. Connection and server faults surface as LedgerUnavailableError naming the URL without its
 * password. The pool connects at the first operation (the constructor does no I/O), and a failed
 * migration is tried again at the next operation.
 */
import pg from 'pg';
import type { RecordedStatus } from '../common/constants';
import { GuardedLedgerBackend, type EventQuery, type JobQuery, type LedgerBackend, type LedgerStore, type LedgerTx, type Migration, type SqlHandle } from './backend';
import { LedgerUnavailableError, type JobRecord, type LedgerEvent, type NewLedgerEvent, type StepRecord, type StepState } from './types';

export interface PostgresLedgerOptions {
  /** Most connections the pool opens. Default: 10. */
  poolSize?: number;
  /** How long to wait for a connection (new or from the pool) before failing, in ms. Default: 5000. */
  connectTimeoutMs?: number;
}

/** A `postgres://` or `postgresql://` URL that cannot be parsed. */
export class InvalidLedgerUrlError extends Error {
  constructor(
    /** The URL without its password. */
    readonly url: string,
    reason: string,
  ) {
    super(`invalid ledger URL ${url}: ${reason}`);
    this.name = 'InvalidLedgerUrlError';
  }
}

/** True if `target` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a SQLite file. */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/**
 * A PostgreSQL URL with its password replaced by `***`, for messages and logs (one that does not parse
 * loses its whole user-info part); anything else, such as a SQLite path, is returned as it is.
 */
export function redactUrl(target: string): string {
  if (!isPostgresUrl(target)) return target;
  try {
    const parsed = new URL(target);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return target.replace(/\/\/[^@/]*@/, '//***@');
  }
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
        outcome            JSON,
        submitted_by       TEXT NOT NULL,
        definition_version TEXT NOT NULL,
        run_id             TEXT,
        dedupe_until       BIGINT NOT NULL,
        created_at         BIGINT NOT NULL,
        updated_at         BIGINT NOT NULL,
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
        lease_expires_at BIGINT,
        result           JSON,
        error            JSON,
        version          INTEGER NOT NULL,
        created_at       BIGINT NOT NULL,
        updated_at       BIGINT NOT NULL
      );
      CREATE INDEX steps_job ON steps (job_id);

      CREATE TABLE ledger_events (
        seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id      TEXT NOT NULL,
        step_key    TEXT,
        kind        TEXT NOT NULL,
        data        JSON,
        recorded_at BIGINT NOT NULL
      );
      CREATE INDEX ledger_events_job ON ledger_events (job_id, seq);

      CREATE FUNCTION ledger_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'ledger_events is append-only: % refused', TG_OP;
      END $$;
      CREATE TRIGGER ledger_events_no_change BEFORE UPDATE OR DELETE ON ledger_events
        FOR EACH ROW EXECUTE FUNCTION ledger_events_append_only();
      CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_append_only();
    `,
  },
];

/** Advisory lock keys (any bigint; these spell "jl-migr" and "jl-event" in ASCII). */
const MIGRATION_LOCK = 0x6a6c2d6d696772n.toString();
const EVENT_ORDER_LOCK = 0x6a6c2d6576656e74n.toString();

type Row = Record<string, unknown>;
/** Runs one statement: on the pool (its own connection) or on a transaction's client. */
type Run = (query: pg.QueryConfig) => Promise<pg.QueryResult<Row>>;

/** JSON text of a value, or SQL NULL for null and undefined (the JSON columns hold the text as given). */
function toJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** BIGINT columns arrive as strings; the ledger's numbers are epoch milliseconds and sequence numbers, safe as doubles. */
function num(value: unknown): number {
  return Number(value);
}

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
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
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    result: r.result ?? null,
    error: r.error ?? null,
    version: r.version as number,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
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
    outcome: r.outcome ?? null,
    submittedBy: r.submitted_by as string,
    definitionVersion: r.definition_version as string,
    runId: (r.run_id as string | null) ?? null,
    dedupeUntil: num(r.dedupe_until),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    version: r.version as number,
  };
}

function eventFromRow(r: Row): LedgerEvent {
  return {
    seq: num(r.seq),
    jobId: r.job_id as string,
    stepKey: (r.step_key as string | null) ?? null,
    kind: r.kind as string,
    data: r.data ?? null,
    recordedAt: num(r.recorded_at),
  };
}

const STEP_COLUMNS = 'key, job_id, step, state, request_hash, owner, attempt, lease_expires_at, result, error, version, created_at, updated_at';
const JOB_COLUMNS =
  'job_key, job_id, job_type, idempotency_key, input_hash, status, outcome, submitted_by, definition_version, run_id, dedupe_until, created_at, updated_at, version';

/** The parameters of a step row in STEP_COLUMNS order. */
function stepValues(s: StepRecord): unknown[] {
  return [s.key, s.jobId, s.step, s.state, s.requestHash, s.owner, s.attempt, s.leaseExpiresAt, toJson(s.result), toJson(s.error), s.version, s.createdAt, s.updatedAt];
}

/** The parameters of a step's compare-and-set: key, the changing columns, the expected version. */
function casStepValues(s: StepRecord, expectedVersion: number): unknown[] {
  return [s.key, s.state, s.requestHash, s.owner, s.attempt, s.leaseExpiresAt, toJson(s.result), toJson(s.error), s.version, s.updatedAt, expectedVersion];
}

/** The parameters of a job row in JOB_COLUMNS order. */
function jobValues(j: JobRecord): unknown[] {
  return [
    j.jobKey, j.jobId, j.jobType, j.idempotencyKey, j.inputHash, j.status, toJson(j.outcome), j.submittedBy,
    j.definitionVersion, j.runId, j.dedupeUntil, j.createdAt, j.updatedAt, j.version,
  ];
}

/** `$1, $2, ... $n`. */
function placeholders(n: number): string {
  return Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ');
}

/**
 * Named statements: each connection parses and plans them once. A step's compare-and-set writes only the
 * changing columns (casStepValues); a job's writes all of them (jobValues), the expected version last.
 */
const SQL = {
  getStep: { name: 'jl_get_step', text: 'SELECT * FROM steps WHERE key = $1' },
  listSteps: { name: 'jl_list_steps', text: 'SELECT * FROM steps WHERE job_id = $1 ORDER BY created_at, key' },
  insertStep: {
    name: 'jl_insert_step',
    text: `INSERT INTO steps (${STEP_COLUMNS}) VALUES (${placeholders(13)}) ON CONFLICT (key) DO NOTHING RETURNING 1`,
  },
  casStep: {
    name: 'jl_cas_step',
    text: `UPDATE steps SET state = $2, request_hash = $3, owner = $4, attempt = $5, lease_expires_at = $6,
      result = $7, error = $8, version = $9, updated_at = $10
      WHERE key = $1 AND version = $11 RETURNING 1`,
  },
  getJob: { name: 'jl_get_job', text: 'SELECT * FROM jobs WHERE job_key = $1' },
  getJobById: { name: 'jl_get_job_by_id', text: 'SELECT * FROM jobs WHERE job_id = $1' },
  listJobs: {
    name: 'jl_list_jobs',
    text: `SELECT * FROM jobs WHERE ($1::text IS NULL OR job_type = $1) AND ($2::text IS NULL OR status = $2)
      ORDER BY created_at, job_key`,
  },
  insertJob: {
    name: 'jl_insert_job',
    text: `INSERT INTO jobs (${JOB_COLUMNS}) VALUES (${placeholders(14)}) ON CONFLICT (job_key) DO NOTHING RETURNING 1`,
  },
  casJob: {
    name: 'jl_cas_job',
    text: `UPDATE jobs SET job_id = $2, job_type = $3, idempotency_key = $4, input_hash = $5, status = $6, outcome = $7,
      submitted_by = $8, definition_version = $9, run_id = $10, dedupe_until = $11, created_at = $12, updated_at = $13,
      version = $14
      WHERE job_key = $1 AND version = $15 RETURNING 1`,
  },
  // The lock in the fenced subquery (OFFSET 0) is taken before the identity default is drawn, and held to
  // commit: appends take their seq in commit order.
  appendEvent: {
    name: 'jl_append_event',
    text: `INSERT INTO ledger_events (job_id, step_key, kind, data, recorded_at)
      SELECT $1, $2, $3, $4::json, $5 FROM (SELECT pg_advisory_xact_lock(${EVENT_ORDER_LOCK}) OFFSET 0) AS ordered
      RETURNING seq`,
  },
  listEvents: {
    name: 'jl_list_events',
    text: `SELECT * FROM ledger_events WHERE ($1::text IS NULL OR job_id = $1) AND seq > $2 ORDER BY seq LIMIT $3`,
  },
  listEventsNewestFirst: {
    name: 'jl_list_events_newest_first',
    text: `SELECT * FROM ledger_events WHERE ($1::text IS NULL OR job_id = $1) AND seq > $2 ORDER BY seq DESC LIMIT $3`,
  },
} as const;

/** SQLSTATE classes and codes that mean the database cannot be used now, rather than that a statement is wrong. */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0|58|28|3D)/;

/**
 * `err` as a LedgerUnavailableError naming `url` if it is a connection or server fault; otherwise `err`.
 * An error without a SQLSTATE from `pg` (refused, reset, timed out, terminated) is a connection fault.
 */
function storageFault(url: string, err: unknown): unknown {
  if (err instanceof LedgerUnavailableError) return err;
  if (err instanceof pg.DatabaseError) {
    return err.code && UNAVAILABLE_SQLSTATE.test(err.code)
      ? new LedgerUnavailableError(url, `${err.message} (SQLSTATE ${err.code})`, { cause: err })
      : err;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return new LedgerUnavailableError(url, `${err.message}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
  }
  return err;
}

/**
 * `sql` with each `?` outside quotes and comments numbered `$1..$n`, for a step's local effect written
 * for both backends. `??` is kept as a literal `?` (PostgreSQL's jsonb operators).
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '?' && sql[i + 1] === '?') {
      out += '?';
      i += 2;
    } else if (c === '?') {
      out += `$${++n}`;
      i += 1;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

export class PostgresLedgerBackend extends GuardedLedgerBackend implements LedgerBackend {
  /** The URL without its password, for errors. */
  readonly url: string;
  private readonly pool: pg.Pool;
  protected readonly store: LedgerStore;
  /** Settles once the schema is current; reset when migrating failed, so the next operation tries again. */
  private migrated: Promise<void> | undefined;
  private closed = false;

  /** Parses `url` and sets up the pool; connects at the first operation. Throws InvalidLedgerUrlError for a URL that does not parse. */
  constructor(url: string, options: PostgresLedgerOptions = {}) {
    super();
    this.url = redactUrl(url);
    try {
      new URL(url);
    } catch {
      throw new InvalidLedgerUrlError(this.url, 'not a URL');
    }
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      application_name: 'jobledger',
    });
    // An idle connection that the server drops emits here; without a listener the process would crash.
    // The next query on the pool gets a fresh connection (or reports the fault).
    this.pool.on('error', () => {});
    this.store = this.makeStore((query) => this.pool.query<Row>(query));
  }

  /** BEGIN, `fn`, COMMIT on one connection; ROLLBACK if `fn` or a statement throws. Errors of `fn` pass through as thrown. */
  async transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T> {
    await this.ready();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storageFault(this.url, err);
    }
    const run: Run = async (query) => {
      try {
        return await client.query<Row>(query);
      } catch (err) {
        throw storageFault(this.url, err);
      }
    };
    let broken: unknown;
    try {
      await run({ text: 'BEGIN' });
      try {
        const out = await fn({ ...this.makeStore(run), sql: this.sqlHandle(run) });
        await run({ text: 'COMMIT' });
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => (broken = rollbackErr));
        throw err;
      }
    } catch (err) {
      if (err instanceof LedgerUnavailableError) broken ??= err;
      throw err;
    } finally {
      // A connection that failed is closed rather than handed to the next caller.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /** A round trip to the database (and the migrations, the first time). Rejects with LedgerUnavailableError naming the URL. */
  async checkHealth(): Promise<void> {
    await this.guard(() => this.pool.query('SELECT 1'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** Runs a record operation on the pool once the schema is current, with faults as LedgerUnavailableError. */
  protected async guard<T>(fn: () => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await fn();
    } catch (err) {
      throw storageFault(this.url, err);
    }
  }

  private ready(): Promise<void> {
    if (this.closed) return Promise.reject(new LedgerUnavailableError(this.url, 'the ledger was closed'));
    this.migrated ??= this.migrate().catch((err: unknown) => {
      this.migrated = undefined;
      throw storageFault(this.url, err);
    });
    return this.migrated;
  }

  /**
   * Applies pending migrations in order, in one transaction holding an advisory lock: a second process
   * opening the database at the same time waits, then finds them applied.
   */
  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
        const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
        const current = rows[0]?.v ?? 0;
        for (const m of MIGRATIONS) {
          if (m.version <= current) continue;
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      }
    } finally {
      client.release(broken);
    }
  }

  private makeStore(run: Run): LedgerStore {
    const one = async (query: pg.QueryConfig) => (await run(query)).rows[0];
    return {
      getStep: async (key) => {
        const row = await one({ ...SQL.getStep, values: [key] });
        return row ? stepFromRow(row) : undefined;
      },
      listSteps: async (jobId) => (await run({ ...SQL.listSteps, values: [jobId] })).rows.map(stepFromRow),
      putStepIfAbsent: async (record) => (await run({ ...SQL.insertStep, values: stepValues(record) })).rowCount === 1,
      compareAndSetStep: async (record, expectedVersion) =>
        (await run({ ...SQL.casStep, values: casStepValues(record, expectedVersion) })).rowCount === 1,

      getJob: async (key) => {
        const row = await one({ ...SQL.getJob, values: [key] });
        return row ? jobFromRow(row) : undefined;
      },
      getJobById: async (jobId) => {
        const row = await one({ ...SQL.getJobById, values: [jobId] });
        return row ? jobFromRow(row) : undefined;
      },
      listJobs: async (query = {}) => (await run({ ...SQL.listJobs, values: [query.type ?? null, query.status ?? null] })).rows.map(jobFromRow),
      putJobIfAbsent: async (record) => (await run({ ...SQL.insertJob, values: jobValues(record) })).rowCount === 1,
      compareAndSetJob: async (record, expectedVersion) =>
        (await run({ ...SQL.casJob, values: [...jobValues(record), expectedVersion] })).rowCount === 1,

      appendEvent: async (e) => num((await one({ ...SQL.appendEvent, values: [e.jobId, e.stepKey, e.kind, toJson(e.data), e.recordedAt] }))?.seq),
      listEvents: async (query = {}) =>
        (await run({ ...(query.newestFirst ? SQL.listEventsNewestFirst : SQL.listEvents), values: [query.jobId ?? null, query.afterSeq ?? 0, query.limit ?? null] })).rows.map(eventFromRow),
    };
  }

  /** The caller's SQL on the transaction's connection, `?` placeholders numbered for PostgreSQL. */
  private sqlHandle(run: Run): SqlHandle {
    return {
      run: async (sql, params = []) => void (await run({ text: numberPlaceholders(sql), values: params })),
      all: async (sql, params = []) => (await run({ text: numberPlaceholders(sql), values: params })).rows,
    };
  }
}
