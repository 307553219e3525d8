/**
 * The two ledger backends for suites that run once per backend: SQLite (a file in a fresh temp dir) and
 * PostgreSQL (a fresh database in one throwaway cluster per test file). Call `ledgerBackends()` at the top
 * level of a test file: it registers the hooks that start the cluster before the file's tests and stop it
 * after them.
 */
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startPostgres, type RunningPostgres } from './postgres';
import { tempDir } from './servers';

export interface LedgerBackendUnderTest {
  name: 'sqlite' | 'postgres';
  /** A new, empty ledger: a SQLite path or a PostgreSQL URL, for `openLedger` or JOBLEDGER_LEDGER_URL/PATH. */
  newTarget(): Promise<string>;
}

export function ledgerBackends(): LedgerBackendUnderTest[] {
  let postgres: RunningPostgres | undefined;
  before(async () => {
    postgres = await startPostgres();
  });
  after(async () => {
    await postgres?.stop();
  });
  return [
    { name: 'sqlite', newTarget: async () => join(tempDir(), 'ledger.db') },
    {
      name: 'postgres',
      newTarget: async () => {
        if (!postgres) throw new Error('PostgreSQL did not start');
        return postgres.createDatabase();
      },
    },
  ];
}
