/**
 * Circuit breakers shared by every host through PostgreSQL: two stores on one database stand for two
 * hosts. A circuit one host opens is open on the other after the sync, a stale write from the slower host
 * loses to the newer record, and the breaker of the second host then fails fast without calling.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CircuitBreaker, CircuitOpenError } from '../resilience';
import { PostgresBreakerStore } from '../resilience/postgres-breaker-store';
import { startPostgres, type RunningPostgres } from './helpers/postgres';

let pg: RunningPostgres;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});

test('a circuit opened on one host is open on another host sharing the PostgreSQL store, which then fails fast', async () => {
  const url = await pg.createDatabase();
  const storeA = await PostgresBreakerStore.open(url, { syncIntervalMs: 50 });
  const storeB = await PostgresBreakerStore.open(url, { syncIntervalMs: 50 });
  try {
    const hostA = new CircuitBreaker({ store: storeA, failureThreshold: 2, coolDownMs: 60_000 });
    const hostB = new CircuitBreaker({ store: storeB, failureThreshold: 2, coolDownMs: 60_000 });
    assert.equal(hostB.state('payments'), 'closed');
    hostA.onFailure('payments');
    hostA.onFailure('payments');
    assert.equal(hostA.state('payments'), 'open');
    await storeA.sync();
    await storeB.sync();
    assert.equal(hostB.state('payments'), 'open', 'host B sees the circuit host A opened');
    let called = false;
    await assert.rejects(
      hostB.run('payments', async () => {
        called = true;
      }),
      CircuitOpenError,
    );
    assert.equal(called, false, 'host B did not call the dependency');
  } finally {
    await storeA.close();
    await storeB.close();
  }
});

test('a stale write from a slower host loses to the newer record, which it then reads back', async () => {
  const url = await pg.createDatabase();
  const storeA = await PostgresBreakerStore.open(url, { syncIntervalMs: 60_000 });
  const storeB = await PostgresBreakerStore.open(url, { syncIntervalMs: 60_000 });
  try {
    const open = { state: 'open' as const, failures: 2, successes: 0, openedAt: 1_000, halfOpenInFlight: 0, version: 1 };
    const closed = { state: 'closed' as const, failures: 1, successes: 0, openedAt: null, halfOpenInFlight: 0, version: 1 };
    assert.ok(storeA.compareAndSet('email', 0, open));
    await storeA.sync();
    // B had not seen A's record: its own version-1 write succeeds locally, then loses in PostgreSQL.
    assert.ok(storeB.compareAndSet('email', 0, closed));
    await storeB.sync();
    assert.deepEqual(storeB.get('email'), open, 'B now holds the record A wrote first');
  } finally {
    await storeA.close();
    await storeB.close();
  }
});
