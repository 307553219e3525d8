/**
 * Opens the breaker store a target names: PostgreSQL (every host shares it) for a `postgres://` URL, else
 * the SQLite file at that path (every process on this host shares it), its directory created. Workers
 * decide with it; the dashboard lists its records.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isPostgresUrl } from '../ledger/postgres';
import { SqliteBreakerStore, type BreakerListing, type BreakerStore } from './breaker-store';
import { PostgresBreakerStore } from './postgres-breaker-store';

/** A breaker store that lists its records and is closed by whoever opened it. */
export type OpenBreakerStore = BreakerStore & BreakerListing & { close(): void | Promise<void> };

/** The store at `target`; `onError` hears of failed PostgreSQL writes and pulls (the replica keeps deciding). */
export async function openBreakerStore(target: string, onError?: (err: Error) => void): Promise<OpenBreakerStore> {
  if (isPostgresUrl(target)) return PostgresBreakerStore.open(target, { ...(onError && { onError }) });
  mkdirSync(dirname(target), { recursive: true });
  return new SqliteBreakerStore(target);
}
