/**
 * Entry point of the durable ledger: `openLedger(path)` opens (or creates) a
 * SQLite ledger file (now, or lazily at first use) and returns a Ledger over
 * it; the record types, states, errors and key helpers are re-exported from here.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { LazyLedgerBackend } from './lazy';
import { Ledger } from './ledger';
import { SqliteLedgerBackend, type SqliteLedgerOptions } from './sqlite';
import { LedgerUnavailableError } from './types';

export interface OpenLedgerOptions extends SqliteLedgerOptions {
  /**
   * Open the file at the first operation instead of now, for callers that may never use the ledger
   * (read-only CLI commands that need Temporal only). Default: false (open now, and fail now).
   */
  lazy?: boolean;
  /** Clock in epoch milliseconds for leases, dedupe windows and timestamps. Default: `Date.now`. */
  now?: () => number;
  /** How many times an operation is retried after losing a compare-and-set. Default: 5. */
  maxCasRetries?: number;
}

/**
 * Opens a Ledger on the SQLite file at `path`, creating its parent directory if needed. Throws
 * LedgerUnavailableError naming the path if the file cannot be used (with `lazy`, at first use instead).
 */
export function openLedger(path: string, opts: OpenLedgerOptions = {}): Ledger {
  const { now, maxCasRetries, lazy, ...sqliteOptions } = opts;
  const open = () => {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (err) {
      throw new LedgerUnavailableError(path, `cannot create its directory: ${(err as Error).message}`, { cause: err });
    }
    return new SqliteLedgerBackend(path, sqliteOptions);
  };
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
export { LazyLedgerBackend } from './lazy';
export type { SqliteLedgerOptions } from './sqlite';
export type { EventQuery, JobQuery, LedgerBackend, LedgerStore, LedgerTx, SqlHandle } from './backend';
export * from './types';
