/**
 * Entry point of the durable ledger: `openLedger(target)` opens a ledger on PostgreSQL when `target` is a
 * `postgres://` or `postgresql://` URL, and otherwise on the SQLite file at that path (now, or lazily at
 * first use), and returns a Ledger over it; the record types, states, errors and key helpers are
 * re-exported from here.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LedgerBackend } from './backend';
import { LazyLedgerBackend } from './lazy';
import { Ledger } from './ledger';
import { isPostgresUrl, PostgresLedgerBackend, type PostgresLedgerOptions } from './postgres';
import { SqliteLedgerBackend, type SqliteLedgerOptions } from './sqlite';
import { LedgerUnavailableError } from './types';

export interface OpenLedgerOptions extends SqliteLedgerOptions, PostgresLedgerOptions {
  /**
   * Open the store at the first operation instead of now, for callers that may never use the ledger
   * (read-only CLI commands that need Temporal only). Default: false (open now, and fail now). A
   * PostgreSQL ledger always connects at its first operation; `lazy` only defers parsing its URL.
   */
  lazy?: boolean;
  /** Clock in epoch milliseconds for leases, dedupe windows and timestamps. Default: `Date.now`. */
  now?: () => number;
  /** How many times an operation is retried after losing a compare-and-set. Default: 5. */
  maxCasRetries?: number;
}

/** The backend `target` names: PostgreSQL for a `postgres://` URL, else the SQLite file at that path (its directory created). */
export function openLedgerBackend(target: string, options: SqliteLedgerOptions & PostgresLedgerOptions = {}): LedgerBackend {
  if (isPostgresUrl(target)) {
    const { poolSize, connectTimeoutMs } = options;
    return new PostgresLedgerBackend(target, { poolSize, connectTimeoutMs });
  }
  try {
    mkdirSync(dirname(target), { recursive: true });
  } catch (err) {
    throw new LedgerUnavailableError(target, `cannot create its directory: ${(err as Error).message}`, { cause: err });
  }
  const { busyTimeoutMs, walAutocheckpointPages } = options;
  return new SqliteLedgerBackend(target, { busyTimeoutMs, walAutocheckpointPages });
}

/**
 * Opens a Ledger on `target`: a `postgres://` / `postgresql://` URL, or the path of a SQLite file (its
 * parent directory created if needed). Throws LedgerUnavailableError naming the path if the file cannot be
 * used, InvalidLedgerUrlError for a URL that does not parse (with `lazy`, at first use instead). A
 * PostgreSQL ledger connects and migrates at its first operation, which rejects with
 * LedgerUnavailableError naming the URL (without its password) when the database cannot be reached.
 */
export function openLedger(target: string, opts: OpenLedgerOptions = {}): Ledger {
  const { now, maxCasRetries, lazy, ...storeOptions } = opts;
  const open = () => openLedgerBackend(target, storeOptions);
  const backend = lazy ? new LazyLedgerBackend(open) : open();
  return new Ledger({ backend, now, maxCasRetries });
}

export { Ledger } from './ledger';
export type {
  ClaimResult,
  ClaimStepInput,
  CompleteStepInput,
  FailStepInput,
  LedgerOptions,
  NewJob,
  RecordJobResult,
} from './ledger';
export { SqliteLedgerBackend } from './sqlite';
export { InvalidLedgerUrlError, isPostgresUrl, PostgresLedgerBackend, redactUrl } from './postgres';
export { LazyLedgerBackend } from './lazy';
export type { SqliteLedgerOptions } from './sqlite';
export type { PostgresLedgerOptions } from './postgres';
export type { EventQuery, JobQuery, LedgerBackend, LedgerStore, LedgerTx, SqlHandle } from './backend';
export * from './types';
