/**
 * Circuit breakers shared by every host through PostgreSQL. The breaker decides synchronously (a decision
 * costs no round trip), so this store keeps a local replica of the `circuit_breakers` table:
 * - `get` reads the replica;
 * - `compareAndSet` checks and writes the replica, then writes the record through to PostgreSQL, where a
 *   newer version wins (an older write from a slower host is refused and the winner read back);
 * - the replica pulls every record whose stored version is newer, every `syncIntervalMs`.
 *
 * So a circuit that one host opens is open on every host within about one sync interval (0.5 s by
 * default). Two hosts may briefly decide on different states, and each may send its own trial call while
 * half-open: the sharing is eventual, never lost.
 */
import pg from 'pg';
import { redactUrl } from '../ledger/postgres';
import { MemoryBreakerStore, type BreakerListing, type BreakerRecord, type BreakerState, type BreakerStore } from './breaker-store';

export interface PostgresBreakerStoreOptions {
  /** How often the replica pulls newer records. Default 500 ms. */
  syncIntervalMs?: number;
  /** Called when a write or a pull fails (the replica keeps deciding; the next sync tries again). Default: none. */
  onError?: (err: Error) => void;
}

interface BreakerRow {
  dependency: string;
  state: string;
  failures: number;
  successes: number;
  opened_at: string | null;
  half_open_in_flight: number;
  version: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS circuit_breakers (
    dependency          TEXT PRIMARY KEY,
    state               TEXT NOT NULL,
    failures            INTEGER NOT NULL,
    successes           INTEGER NOT NULL,
    opened_at           BIGINT,
    half_open_in_flight INTEGER NOT NULL,
    version             INTEGER NOT NULL
  )`;

/** Writes a record unless the stored one is as new or newer; returns the stored row either way. */
const UPSERT = `
  INSERT INTO circuit_breakers AS b (dependency, state, failures, successes, opened_at, half_open_in_flight, version)
  VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (dependency) DO UPDATE SET state = EXCLUDED.state, failures = EXCLUDED.failures, successes = EXCLUDED.successes,
    opened_at = EXCLUDED.opened_at, half_open_in_flight = EXCLUDED.half_open_in_flight, version = EXCLUDED.version
  WHERE b.version < EXCLUDED.version`;

function recordOf(row: BreakerRow): BreakerRecord {
  return {
    state: row.state as BreakerState,
    failures: row.failures,
    successes: row.successes,
    openedAt: row.opened_at === null ? null : Number(row.opened_at),
    halfOpenInFlight: row.half_open_in_flight,
    version: row.version,
  };
}

export class PostgresBreakerStore implements BreakerStore, BreakerListing {
  private readonly replica = new MemoryBreakerStore();
  private readonly pool: pg.Pool;
  private readonly timer: NodeJS.Timeout;
  private readonly ready: Promise<void>;
  private pending: Promise<unknown> = Promise.resolve();

  private constructor(
    url: string,
    private readonly options: PostgresBreakerStoreOptions,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    this.pool.on('error', (err) => options.onError?.(err));
    this.ready = this.createTable().then(() => this.pull());
    this.timer = setInterval(() => void this.sync(), options.syncIntervalMs ?? 500);
    this.timer.unref();
  }

  /** Opens the store and loads the replica; rejects naming the URL (password hidden) when PostgreSQL cannot be reached. */
  static async open(url: string, options: PostgresBreakerStoreOptions = {}): Promise<PostgresBreakerStore> {
    const store = new PostgresBreakerStore(url, options);
    try {
      await store.ready;
    } catch (err) {
      await store.close();
      throw new Error(`circuit breaker store ${redactUrl(url)} is unavailable: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  get(dependency: string): BreakerRecord | undefined {
    return this.replica.get(dependency);
  }

  /** The replica's records (as of the last pull). */
  list(): Array<{ dependency: string; record: BreakerRecord }> {
    return this.replica.list();
  }

  compareAndSet(dependency: string, expectedVersion: number, next: BreakerRecord): boolean {
    if (!this.replica.compareAndSet(dependency, expectedVersion, next)) return false;
    this.pending = this.pending.then(() => this.push(dependency, next)).catch((err: Error) => this.options.onError?.(err));
    return true;
  }

  /** Waits until every write so far reached PostgreSQL, then pulls newer records (tests and shutdown). */
  async sync(): Promise<void> {
    try {
      await this.pending;
      await this.pull();
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.pending.catch(() => undefined);
    await this.pool.end();
  }

  /** Creates the table once: hosts starting together wait on one advisory lock (a plain IF NOT EXISTS races in PostgreSQL). */
  private async createTable(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('jobledger.circuit_breakers'))");
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async push(dependency: string, record: BreakerRecord): Promise<void> {
    const written = await this.pool.query(UPSERT, [dependency, record.state, record.failures, record.successes, record.openedAt, record.halfOpenInFlight, record.version]);
    // Another host wrote as new a version first: its record wins, and replaces this one here too.
    if (written.rowCount === 0) await this.pull(dependency);
  }

  /** Takes every stored record newer than the replica's, and `winner`'s stored record whatever its version. */
  private async pull(winner?: string): Promise<void> {
    const { rows } = await this.pool.query<BreakerRow>('SELECT dependency, state, failures, successes, opened_at, half_open_in_flight, version FROM circuit_breakers');
    for (const row of rows) {
      const local = this.replica.get(row.dependency)?.version ?? 0;
      if (row.version > local || row.dependency === winner) this.replica.compareAndSet(row.dependency, local, recordOf(row));
    }
  }
}
