/**
 * Where circuit breakers keep their state: one small record per dependency, read with `get` and written
 * only by compare-and-set on its `version`, so that several breakers sharing a store never lose each
 * other's updates. `MemoryBreakerStore` serves one process. `SqliteBreakerStore` shares the state between
 * all worker processes on one host through one SQLite file (its own `circuit_breakers` table). The scope
 * is per host: workers on other hosts use other files and so have their own breakers.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** The states of a circuit. */
export const BreakerState = {
  Closed: 'closed',
  Open: 'open',
  HalfOpen: 'half-open',
} as const;
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState];

/** The stored state of one dependency's circuit. */
export interface BreakerRecord {
  state: BreakerState;
  /** Consecutive failures counted while closed (left as it was when the circuit opened). */
  failures: number;
  /** Successful trial calls in the current half-open period. */
  successes: number;
  /** When the current open period or half-open trial window began (ms since epoch); null while closed. */
  openedAt: number | null;
  /** Trial calls admitted while half-open that have not reported back yet. */
  halfOpenInFlight: number;
  /** Incremented by every write; 0 means "no record stored yet". */
  version: number;
}

/** The record of a dependency that has never been written: closed, no failures, version 0. */
export function initialRecord(): BreakerRecord {
  return { state: BreakerState.Closed, failures: 0, successes: 0, openedAt: null, halfOpenInFlight: 0, version: 0 };
}

/**
 * Storage for breaker records. Synchronous on purpose: both implementations are local, and a breaker
 * decision then costs no event-loop turn.
 */
export interface BreakerStore {
  /** The stored record of this dependency, or undefined if none was written yet. */
  get(dependency: string): BreakerRecord | undefined;
  /**
   * Stores `next` only if the stored version equals `expectedVersion` (0 when no record exists yet);
   * true if written, false if someone else wrote first. `next.version` is stored as given.
   */
  compareAndSet(dependency: string, expectedVersion: number, next: BreakerRecord): boolean;
}

/** A store that can list every dependency's record (what the dashboard's health panel shows). */
export interface BreakerListing {
  /** Every stored record, by dependency, sorted by dependency. */
  list(): Array<{ dependency: string; record: BreakerRecord }>;
}

/** Breaker state in this process only. */
export class MemoryBreakerStore implements BreakerStore, BreakerListing {
  private readonly records = new Map<string, BreakerRecord>();

  get(dependency: string): BreakerRecord | undefined {
    const record = this.records.get(dependency);
    return record && { ...record };
  }

  compareAndSet(dependency: string, expectedVersion: number, next: BreakerRecord): boolean {
    const storedVersion = this.records.get(dependency)?.version ?? 0;
    if (storedVersion !== expectedVersion) return false;
    this.records.set(dependency, { ...next });
    return true;
  }

  list(): Array<{ dependency: string; record: BreakerRecord }> {
    return [...this.records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([dependency, record]) => ({ dependency, record: { ...record } }));
  }
}

export interface SqliteBreakerStoreOptions {
  /** How long a write waits for another process's lock before failing, in ms. Default: 5000. */
  busyTimeoutMs?: number;
}

interface BreakerRow {
  state: string;
  failures: number;
  successes: number;
  opened_at: number | null;
  half_open_in_flight: number;
  version: number;
}

function recordFromRow(row: BreakerRow): BreakerRecord {
  return {
    state: row.state as BreakerState,
    failures: row.failures,
    successes: row.successes,
    openedAt: row.opened_at,
    halfOpenInFlight: row.half_open_in_flight,
    version: row.version,
  };
}

/**
 * Breaker state shared by every process on this host that opens the same SQLite file. The file may be a
 * dedicated one or the ledger's: the store only touches its own `circuit_breakers` table, created if
 * missing. The connection runs in WAL mode (readers never wait for the writer) with a busy timeout, and
 * with `synchronous = NORMAL`: a power loss may forget the last breaker update, which is harmless.
 */
export class SqliteBreakerStore implements BreakerStore, BreakerListing {
  private readonly db: Database.Database;
  private readonly selectStmt: Database.Statement<[string], BreakerRow>;
  private readonly insertStmt: Database.Statement<unknown[]>;
  private readonly updateStmt: Database.Statement<unknown[]>;
  private readonly listStmt: Database.Statement<[], BreakerRow & { dependency: string }>;

  constructor(path: string, options: SqliteBreakerStoreOptions = {}) {
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    // The busy timeout comes first so that the statements below wait for other processes opening the file.
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS circuit_breakers (
        dependency          TEXT PRIMARY KEY,
        state               TEXT NOT NULL,
        failures            INTEGER NOT NULL,
        successes           INTEGER NOT NULL,
        opened_at           INTEGER,
        half_open_in_flight INTEGER NOT NULL,
        version             INTEGER NOT NULL
      ) WITHOUT ROWID
    `);
    this.selectStmt = this.db.prepare(
      'SELECT state, failures, successes, opened_at, half_open_in_flight, version FROM circuit_breakers WHERE dependency = ?',
    );
    this.insertStmt = this.db.prepare(
      `INSERT INTO circuit_breakers (dependency, state, failures, successes, opened_at, half_open_in_flight, version)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dependency) DO NOTHING`,
    );
    this.listStmt = this.db.prepare(
      'SELECT dependency, state, failures, successes, opened_at, half_open_in_flight, version FROM circuit_breakers ORDER BY dependency',
    );
    this.updateStmt = this.db.prepare(
      `UPDATE circuit_breakers SET state = ?, failures = ?, successes = ?, opened_at = ?, half_open_in_flight = ?, version = ?
       WHERE dependency = ? AND version = ?`,
    );
  }

  get(dependency: string): BreakerRecord | undefined {
    const row = this.selectStmt.get(dependency);
    return row && recordFromRow(row);
  }

  list(): Array<{ dependency: string; record: BreakerRecord }> {
    return this.listStmt.all().map((row) => ({ dependency: row.dependency, record: recordFromRow(row) }));
  }

  compareAndSet(dependency: string, expectedVersion: number, next: BreakerRecord): boolean {
    const fields = [next.state, next.failures, next.successes, next.openedAt, next.halfOpenInFlight, next.version];
    // Each statement is its own transaction, so the version check and the write are atomic across processes.
    const result =
      expectedVersion === 0
        ? this.insertStmt.run(dependency, ...fields)
        : this.updateStmt.run(...fields, dependency, expectedVersion);
    return result.changes === 1;
  }

  close(): void {
    this.db.close();
  }
}
