/**
 * Entry point of the durable ledger: `openLedger(path)` opens (or creates) a
 * SQLite ledger file and returns a Ledger over it; the record types, states,
 * errors and key helpers are re-exported from here.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Ledger } from './ledger';
import { SqliteLedgerBackend, type SqliteLedgerOptions } from './sqlite';

export interface OpenLedgerOptions extends SqliteLedgerOptions {
  /** Clock in epoch milliseconds for leases, dedupe windows and timestamps. Default: `Date.now`. */
  now?: () => number;
  /** How many times an operation is retried after losing a compare-and-set. Default: 5. */
  maxCasRetries?: number;
}

/** Opens a Ledger on the SQLite file at `path`, creating its parent directory if needed. */
export function openLedger(path: string, opts: OpenLedgerOptions = {}): Ledger {
  mkdirSync(dirname(path), { recursive: true });
  const { now, maxCasRetries, ...sqliteOptions } = opts;
  const backend = new SqliteLedgerBackend(path, sqliteOptions);
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
export type { SqliteLedgerOptions } from './sqlite';
export type { EventQuery, JobQuery, LedgerBackend, LedgerStore, LedgerTx, SqlHandle } from './backend';
export * from './types';
