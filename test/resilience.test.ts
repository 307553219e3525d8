/**
 * Tests of resilience/: jittered backoff (bounds, growth, cap, spread across jobs failing together,
 * Retry-After, input checks), the circuit breaker's state machine driven by an injected clock, and breaker
 * state shared through one SQLite file by several breakers and several OS processes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { runScriptJson } from './helpers/run';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  BreakerContentionError,
  BreakerState,
  CircuitBreaker,
  CircuitOpenError,
  MemoryBreakerStore,
  SqliteBreakerStore,
  initialRecord,
  jitterBounds,
  jitteredDelayMs,
  retryAfterDelayMs,
  type BreakerStore,
  type CircuitBreakerOptions,
} from '../resilience';

const REPO_ROOT = resolve(__dirname, '..');
const START = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------------------------
// backoff

const policy = { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 1_000_000_000 };

test('backoff: delays grow across attempts and 1,000 samples per attempt stay within jitterBounds', () => {
  let previous: { minMs: number; maxMs: number; samples: number[] } | undefined;
  for (let attempt = 1; attempt <= 10; attempt++) {
    const bounds = jitterBounds({ ...policy, attempt });
    assert.deepEqual(bounds, { minMs: 500 * 2 ** (attempt - 1), maxMs: 1000 * 2 ** (attempt - 1) });
    const samples = Array.from({ length: 1000 }, () => jitteredDelayMs({ ...policy, attempt }));
    for (const s of samples) assert.ok(s >= bounds.minMs && s <= bounds.maxMs, `attempt ${attempt}: ${s} outside ${JSON.stringify(bounds)}`);
    // The samples cover the range rather than sitting at one end.
    const width = bounds.maxMs - bounds.minMs;
    assert.ok(Math.max(...samples) - Math.min(...samples) > 0.9 * width, `attempt ${attempt}: samples do not cover the bounds`);
    if (previous) {
      assert.ok(bounds.minMs > previous.minMs && bounds.maxMs > previous.maxMs);
      // With coefficient 2 and jitter 0.5 even the shortest delay of an attempt is >= the longest of the one before.
      assert.ok(Math.min(...samples) >= Math.max(...previous.samples), `attempt ${attempt} has a delay shorter than attempt ${attempt - 1}`);
      assert.ok(mean(samples) > mean(previous.samples));
    }
    previous = { ...bounds, samples };
  }
  // The ends of the factor range map onto the bounds.
  assert.equal(jitteredDelayMs({ ...policy, attempt: 3, random: () => 0 }), 4000);
  assert.equal(jitteredDelayMs({ ...policy, attempt: 3, random: () => 1 }), 2000);
});

test('backoff: maximumInterval caps the delay, also for huge attempt numbers', () => {
  const capped = { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 10_000 };
  assert.deepEqual(jitterBounds({ ...capped, attempt: 4 }), { minMs: 4000, maxMs: 8000 });
  for (const attempt of [5, 6, 50, 5000]) {
    assert.deepEqual(jitterBounds({ ...capped, attempt }), { minMs: 5000, maxMs: 10_000 });
    assert.equal(jitteredDelayMs({ ...capped, attempt, jitter: 0 }), 10_000);
    for (let i = 0; i < 1000; i++) {
      const d = jitteredDelayMs({ ...capped, attempt });
      assert.ok(d >= 5000 && d <= 10_000, `attempt ${attempt}: ${d}`);
    }
  }
});

test('backoff: jitter 0 gives the exact exponential delay', () => {
  const random = () => 0.73;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((attempt) => jitteredDelayMs({ ...policy, attempt, jitter: 0, random })),
    [1000, 2000, 4000, 8000, 16_000, 32_000],
  );
  const slower = { initialIntervalMs: 2000, backoffCoefficient: 1.5, maximumIntervalMs: 60_000, jitter: 0 };
  assert.deepEqual(
    [1, 2, 3, 4].map((attempt) => jitteredDelayMs({ ...slower, attempt, random })),
    [2000, 3000, 4500, 6750],
  );
  assert.deepEqual(jitterBounds({ ...slower, attempt: 4 }), { minMs: 6750, maxMs: 6750 });
});

test('backoff: 20 jobs failing together get spread-out delays with Math.random, identical ones with jitter 0', () => {
  // A long outage: every job is at attempt 13 of a 1s × 2 policy capped at 1h, so each delay is in [30 min, 1 h].
  // Whole-ms delays over a 1.8M-ms range: two of 20 coincide with probability ~1e-4.
  const options = { attempt: 13, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 3_600_000 };
  const { minMs, maxMs } = jitterBounds(options);
  const jittered = Array.from({ length: 20 }, () => jitteredDelayMs(options));
  assert.equal(new Set(jittered).size, 20, `not all distinct: ${jittered}`);
  const spread = Math.max(...jittered) - Math.min(...jittered);
  assert.ok(spread > 0.2 * (maxMs - minMs), `spread ${spread} is not > 20% of ${maxMs - minMs}`);

  const plain = Array.from({ length: 20 }, () => jitteredDelayMs({ ...options, jitter: 0 }));
  assert.equal(new Set(plain).size, 1);
  assert.equal(plain[0], 3_600_000);
});

test('backoff: Retry-After wins when it is larger than the jittered delay', () => {
  assert.equal(retryAfterDelayMs(10_000, 3000), 10_000);
  assert.equal(retryAfterDelayMs(1000, 3000), 3000);
  assert.equal(retryAfterDelayMs(0, 3000), 3000);
  assert.equal(retryAfterDelayMs(undefined, 3000), 3000);
  const jittered = jitteredDelayMs({ ...policy, attempt: 2 });
  assert.equal(retryAfterDelayMs(60_000, jittered), 60_000);
});

test('backoff: invalid inputs throw a RangeError naming the bad input', () => {
  const good = { ...policy, attempt: 2 };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ attempt: 0 }, /attempt must be an integer >= 1, got 0/],
    [{ attempt: 1.5 }, /attempt/],
    [{ attempt: Number.NaN }, /attempt/],
    [{ initialIntervalMs: 0 }, /initialIntervalMs must be a positive number/],
    [{ initialIntervalMs: -5 }, /initialIntervalMs/],
    [{ initialIntervalMs: Number.POSITIVE_INFINITY }, /initialIntervalMs/],
    [{ backoffCoefficient: 0.5 }, /backoffCoefficient must be a number >= 1/],
    [{ backoffCoefficient: Number.NaN }, /backoffCoefficient/],
    [{ maximumIntervalMs: 999 }, /maximumIntervalMs must be a number >= initialIntervalMs/],
    [{ maximumIntervalMs: -1 }, /maximumIntervalMs/],
    [{ jitter: -0.1 }, /jitter must be a number in \[0, 1\]/],
    [{ jitter: 1.5 }, /jitter/],
    [{ jitter: Number.NaN }, /jitter/],
  ];
  for (const [override, message] of cases) {
    const options = { ...good, ...override } as typeof good;
    assert.throws(() => jitteredDelayMs(options), { name: 'RangeError', message }, JSON.stringify(override));
    assert.throws(() => jitterBounds(options), { name: 'RangeError', message }, JSON.stringify(override));
  }
  assert.throws(() => jitteredDelayMs({ ...good, random: () => 2 }), /random\(\) must return a number in \[0, 1\)/);
  assert.throws(() => retryAfterDelayMs(-1, 1000), /retryAfterMs must be a number >= 0/);
  assert.throws(() => retryAfterDelayMs(1000, Number.NaN), /jittered delay/);
  // The edges are accepted.
  assert.equal(jitteredDelayMs({ ...good, jitter: 1, random: () => 1 }), 0);
  assert.ok(jitteredDelayMs({ ...good, backoffCoefficient: 1, maximumIntervalMs: 1000 }) <= 1000);
});

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

// ---------------------------------------------------------------------------------------------------------
// breaker with an injected clock

type Transition = [string, BreakerState, BreakerState];

function setupBreaker(options: CircuitBreakerOptions = {}) {
  const clock = { t: START, now: () => clock.t, advance: (ms: number) => (clock.t += ms) };
  const breaker = new CircuitBreaker({ failureThreshold: 3, coolDownMs: 30_000, now: clock.now, ...options });
  const transitions: Transition[] = [];
  breaker.onTransition((dependency, from, to) => transitions.push([dependency, from, to]));
  return { breaker, clock, transitions };
}

function failTimes(breaker: CircuitBreaker, dependency: string, n: number): void {
  for (let i = 0; i < n; i++) {
    assert.deepEqual(breaker.beforeCall(dependency), { allowed: true });
    breaker.onFailure(dependency);
  }
}

test('breaker: opens after failureThreshold consecutive failures', () => {
  const { breaker } = setupBreaker();
  assert.equal(breaker.state('payments'), 'closed');
  failTimes(breaker, 'payments', 2);
  assert.equal(breaker.state('payments'), 'closed');
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true });
  breaker.onFailure('payments');
  assert.equal(breaker.state('payments'), 'open');
  // Other dependencies keep their own circuits.
  assert.equal(breaker.state('email'), 'closed');
  assert.deepEqual(breaker.beforeCall('email'), { allowed: true });

  const defaults = new CircuitBreaker();
  for (let i = 0; i < 4; i++) defaults.onFailure('payments');
  assert.equal(defaults.state('payments'), 'closed');
  defaults.onFailure('payments');
  assert.equal(defaults.state('payments'), 'open', 'the default threshold is 5');
});

test('breaker: fails fast while open with the remaining cool-down as retryInMs', async () => {
  const { breaker, clock } = setupBreaker();
  failTimes(breaker, 'payments', 3);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 30_000 });
  clock.advance(10_000);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 20_000 });
  clock.advance(19_999);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 1 });

  let called = false;
  await assert.rejects(
    breaker.run('payments', async () => {
      called = true;
    }),
    (err: unknown) => {
      assert.ok(err instanceof CircuitOpenError);
      assert.equal(err.name, 'CircuitOpenError');
      assert.equal(err.dependency, 'payments');
      assert.equal(err.retryInMs, 1);
      assert.match(err.message, /payments is open; retry in 1 ms/);
      return true;
    },
  );
  assert.equal(called, false, 'fn must not run while the circuit is open');
  // Reports of calls that started before the circuit opened change nothing.
  breaker.onSuccess('payments');
  breaker.onFailure('payments');
  assert.equal(breaker.state('payments'), 'open');
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 1 });
});

test('breaker: half-opens after the cool-down allowing exactly halfOpenMaxCalls trial calls', () => {
  for (const halfOpenMaxCalls of [1, 3]) {
    const { breaker, clock } = setupBreaker({ halfOpenMaxCalls });
    failTimes(breaker, 'payments', 3);
    clock.advance(30_000);
    assert.equal(breaker.state('payments'), 'open', 'the transition happens at the next beforeCall');
    for (let i = 0; i < halfOpenMaxCalls; i++) {
      assert.deepEqual(breaker.beforeCall('payments'), { allowed: true }, `trial ${i + 1}`);
      assert.equal(breaker.state('payments'), 'half-open');
    }
    clock.advance(1000);
    // Refused while the trials are out: ask again soon (the trial reports within a call), not after a cool-down.
    assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 1_000 });
    clock.advance(28_500);
    assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 500 }, 'never past the trial window');
  }
});

test('breaker: closes after a successful trial', async () => {
  const { breaker, clock } = setupBreaker();
  failTimes(breaker, 'payments', 3);
  clock.advance(30_000);
  assert.equal(await breaker.run('payments', async () => 'ok'), 'ok');
  assert.equal(breaker.state('payments'), 'closed');
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true });
  // It closed with a fresh failure count: it takes the whole threshold again to open.
  failTimes(breaker, 'payments', 2);
  assert.equal(breaker.state('payments'), 'closed');
});

test('breaker: with successThreshold 2 it closes only after two successful trials', () => {
  const { breaker, clock } = setupBreaker({ successThreshold: 2 });
  failTimes(breaker, 'payments', 3);
  clock.advance(30_000);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true });
  assert.equal(breaker.beforeCall('payments').allowed, false, 'one trial at a time');
  breaker.onSuccess('payments');
  assert.equal(breaker.state('payments'), 'half-open');
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true }, 'the finished trial freed its slot');
  breaker.onSuccess('payments');
  assert.equal(breaker.state('payments'), 'closed');
});

test('breaker: re-opens on a failed trial for a fresh cool-down', async () => {
  const { breaker, clock } = setupBreaker();
  failTimes(breaker, 'payments', 3);
  clock.advance(45_000);
  await assert.rejects(
    breaker.run('payments', async () => {
      throw new Error('503 from payments');
    }),
    /503 from payments/,
  );
  assert.equal(breaker.state('payments'), 'open');
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 30_000 });
  clock.advance(30_000);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true });
  assert.equal(breaker.state('payments'), 'half-open');
});

test('breaker: a success in closed resets the consecutive failure count', () => {
  const { breaker } = setupBreaker();
  failTimes(breaker, 'payments', 2);
  breaker.onSuccess('payments');
  failTimes(breaker, 'payments', 2);
  assert.equal(breaker.state('payments'), 'closed', '2 + 2 failures with a success between are not 3 consecutive');
  breaker.onFailure('payments');
  assert.equal(breaker.state('payments'), 'open');
});

test('breaker: transitions are reported through onTransition in order', () => {
  const { breaker, clock, transitions } = setupBreaker();
  const extra: Transition[] = [];
  const unsubscribe = breaker.onTransition((d, from, to) => extra.push([d, from, to]));
  failTimes(breaker, 'payments', 3); // closed → open
  clock.advance(30_000);
  breaker.beforeCall('payments'); // open → half-open
  breaker.onFailure('payments'); // half-open → open
  unsubscribe();
  clock.advance(30_000);
  breaker.beforeCall('payments'); // open → half-open
  breaker.onSuccess('payments'); // half-open → closed
  failTimes(breaker, 'email', 3); // closed → open on another dependency
  assert.deepEqual(transitions, [
    ['payments', 'closed', 'open'],
    ['payments', 'open', 'half-open'],
    ['payments', 'half-open', 'open'],
    ['payments', 'open', 'half-open'],
    ['payments', 'half-open', 'closed'],
    ['email', 'closed', 'open'],
  ]);
  assert.deepEqual(extra, transitions.slice(0, 3), 'an unsubscribed listener hears nothing more');
});

test('breaker: run counts only the errors isFailure accepts; others count as the dependency answering', async () => {
  class Transient extends Error {}
  const { breaker } = setupBreaker({ isFailure: (err) => err instanceof Transient });
  const throwing = (err: Error) => () => Promise.reject(err);
  for (let i = 0; i < 5; i++) await assert.rejects(breaker.run('payments', throwing(new Error('404 not found'))), /404/);
  assert.equal(breaker.state('payments'), 'closed');
  await assert.rejects(breaker.run('payments', throwing(new Transient('503'))));
  await assert.rejects(breaker.run('payments', throwing(new Transient('503'))));
  await assert.rejects(breaker.run('payments', throwing(new Error('404'))));
  await assert.rejects(breaker.run('payments', throwing(new Transient('503'))));
  assert.equal(breaker.state('payments'), 'closed', 'the 404 reset the consecutive count');
  // A per-call isFailure overrides the breaker's.
  for (let i = 0; i < 3; i++) await assert.rejects(breaker.run('payments', throwing(new Error('boom')), { isFailure: () => true }));
  assert.equal(breaker.state('payments'), 'open');
  // By default every error counts.
  const plain = new CircuitBreaker({ failureThreshold: 2 });
  for (let i = 0; i < 2; i++) await assert.rejects(plain.run('payments', throwing(new Error('any'))));
  assert.equal(plain.state('payments'), 'open');
});

test('breaker: a trial that never reports back frees its slot after another cool-down', () => {
  const { breaker, clock } = setupBreaker();
  failTimes(breaker, 'payments', 3);
  clock.advance(30_000);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true }); // its worker dies before reporting
  clock.advance(29_999);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: false, retryInMs: 1 });
  clock.advance(1);
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true });
  breaker.onSuccess('payments');
  assert.equal(breaker.state('payments'), 'closed');
});

test('breaker: writes retry a bounded number of times, then throw BreakerContentionError', () => {
  const inner = new MemoryBreakerStore();
  let casCalls = 0;
  const losing: BreakerStore = {
    get: (d) => inner.get(d),
    compareAndSet: () => {
      casCalls++;
      return false;
    },
  };
  const breaker = new CircuitBreaker({ store: losing, maxCasAttempts: 7 });
  assert.throws(() => breaker.onFailure('payments'), (err: unknown) => {
    assert.ok(err instanceof BreakerContentionError);
    assert.equal(err.dependency, 'payments');
    assert.equal(err.attempts, 7);
    return true;
  });
  assert.equal(casCalls, 7);
  // Decisions that write nothing never touch compareAndSet.
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true });
  breaker.onSuccess('payments');
  assert.equal(casCalls, 7);

  // A store that loses a few races and then wins: the update lands once.
  let toLose = 3;
  const flaky: BreakerStore = {
    get: (d) => inner.get(d),
    compareAndSet: (d, v, next) => (toLose-- > 0 ? false : inner.compareAndSet(d, v, next)),
  };
  new CircuitBreaker({ store: flaky }).onFailure('payments');
  assert.equal(inner.get('payments')?.failures, 1);
  assert.equal(inner.get('payments')?.version, 1);
});

test('breaker: invalid options throw a RangeError', () => {
  assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), /failureThreshold must be an integer >= 1/);
  assert.throws(() => new CircuitBreaker({ halfOpenMaxCalls: 1.5 }), /halfOpenMaxCalls/);
  assert.throws(() => new CircuitBreaker({ successThreshold: -1 }), /successThreshold/);
  assert.throws(() => new CircuitBreaker({ coolDownMs: -1 }), /coolDownMs must be a number >= 0/);
  assert.throws(() => new CircuitBreaker({ maxCasAttempts: 0 }), /maxCasAttempts/);
});

// ---------------------------------------------------------------------------------------------------------
// shared state

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'resilience-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openStore(t: TestContext, path: string): SqliteBreakerStore {
  const store = new SqliteBreakerStore(path);
  t.after(() => store.close());
  return store;
}

test('stores: compare-and-set writes only over the expected version (memory and SQLite)', (t) => {
  const path = join(tempDir(t), 'cas.db');
  for (const store of [new MemoryBreakerStore(), openStore(t, path)]) {
    const name = store.constructor.name;
    assert.equal(store.get('payments'), undefined, name);
    const first = { ...initialRecord(), failures: 1, version: 1 };
    assert.equal(store.compareAndSet('payments', 0, first), true, `${name}: insert`);
    assert.equal(store.compareAndSet('payments', 0, first), false, `${name}: a second insert loses`);
    assert.deepEqual(store.get('payments'), first);
    const open = { ...first, state: BreakerState.Open, openedAt: START, version: 2 };
    assert.equal(store.compareAndSet('payments', 1, open), true, `${name}: update`);
    assert.equal(store.compareAndSet('payments', 1, { ...first, failures: 9, version: 2 }), false, `${name}: stale version`);
    assert.deepEqual(store.get('payments'), open);
    assert.equal(store.get('email'), undefined, `${name}: records are per dependency`);
  }
});

test('shared state: two breakers on one SQLite file see the same circuit', (t) => {
  const path = join(tempDir(t), 'nested', 'breakers.db');
  const clock = { t: START, now: () => clock.t };
  const a = new CircuitBreaker({ store: openStore(t, path), failureThreshold: 3, now: clock.now });
  const b = new CircuitBreaker({ store: openStore(t, path), failureThreshold: 3, now: clock.now });

  // Failures recorded by a open the circuit for b.
  a.onFailure('payments');
  b.onFailure('payments');
  a.onFailure('payments');
  assert.equal(b.state('payments'), 'open');
  clock.t += 5000;
  assert.deepEqual(b.beforeCall('payments'), { allowed: false, retryInMs: 25_000 });

  // b takes the only trial slot; a is refused; b's success closes the circuit for a.
  clock.t += 25_000;
  assert.deepEqual(b.beforeCall('payments'), { allowed: true });
  assert.equal(a.state('payments'), 'half-open');
  assert.equal(a.beforeCall('payments').allowed, false);
  b.onSuccess('payments');
  assert.equal(a.state('payments'), 'closed');
  assert.deepEqual(a.beforeCall('payments'), { allowed: true });

  // The file runs in WAL mode and holds the breaker's own table.
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.deepEqual(db.prepare('SELECT dependency, state, version FROM circuit_breakers').all(), [
    { dependency: 'payments', state: 'closed', version: 5 }, // 3 failures, half-open, closed
  ]);
});

/**
 * A child process: opens the breaker file, waits for a common start instant, records `count` failures for
 * "payments" and prints the transitions it made and how many compare-and-sets it lost. With `slow`, each
 * read is followed by a 1 ms pause so that the processes' read-modify-write cycles overlap.
 */
const CHILD_SCRIPT = `
const { CircuitBreaker, SqliteBreakerStore } = require(${JSON.stringify(join(REPO_ROOT, 'resilience', 'index.ts'))});
const [path, count, threshold, startAt, slow] = process.argv.slice(1);
const sqlite = new SqliteBreakerStore(path);
const pause = new Int32Array(new SharedArrayBuffer(4));
let lostCas = 0;
const store = {
  get(d) { const r = sqlite.get(d); if (slow === '1') Atomics.wait(pause, 0, 0, 1); return r; },
  compareAndSet(d, v, next) { const ok = sqlite.compareAndSet(d, v, next); if (!ok) lostCas++; return ok; },
};
const breaker = new CircuitBreaker({ store, failureThreshold: Number(threshold), coolDownMs: 60000, maxCasAttempts: 200 });
const transitions = [];
breaker.onTransition((d, from, to) => transitions.push(from + '>' + to));
while (Date.now() < Number(startAt)) {}
for (let i = 0; i < Number(count); i++) breaker.onFailure('payments');
sqlite.close();
process.stdout.write(JSON.stringify({ transitions, lostCas }));
`;

interface ChildResult {
  transitions: string[];
  lostCas: number;
}

function runChild(path: string, count: number, threshold: number, startAt: number, slow: boolean): Promise<ChildResult> {
  return runScriptJson(CHILD_SCRIPT, [path, String(count), String(threshold), String(startAt), slow ? '1' : '0']);
}

test('shared state: failures recorded in a child process open the circuit for this process', async (t) => {
  const path = join(tempDir(t), 'breakers.db');
  const breaker = new CircuitBreaker({ store: openStore(t, path), failureThreshold: 3, coolDownMs: 60_000 });
  assert.deepEqual(breaker.beforeCall('payments'), { allowed: true });
  breaker.onFailure('payments'); // one failure here, three in the child

  const child = await runChild(path, 3, 3, 0, false);
  assert.deepEqual(child.transitions, ['closed>open']);
  // The child saw our failure: its second one opened the circuit and its third was ignored.
  const record = openStore(t, path).get('payments');
  assert.equal(record?.failures, 3);
  assert.equal(record?.version, 3);
  assert.equal(breaker.state('payments'), 'open');
  const decision = breaker.beforeCall('payments');
  assert.equal(decision.allowed, false);
  assert.ok(!decision.allowed && decision.retryInMs > 0 && decision.retryInMs <= 60_000, JSON.stringify(decision));
  await assert.rejects(breaker.run('payments', async () => 'never'), CircuitOpenError);
});

test('shared state: 2 processes × 50 concurrent failures lose no counts', async (t) => {
  const dir = tempDir(t);

  // A threshold above 100: the circuit stays closed and every failure is counted exactly once.
  const countPath = join(dir, 'count.db');
  openStore(t, countPath); // create the file and table up front so the children only race on the record
  let startAt = Date.now() + 1500;
  const counted = await Promise.all([1, 2].map(() => runChild(countPath, 50, 1000, startAt, true)));
  const lost = counted.reduce((n, c) => n + c.lostCas, 0);
  assert.ok(lost > 0, 'the processes raced: some compare-and-sets were lost and retried');
  assert.deepEqual(
    openStore(t, countPath).get('payments'),
    { state: 'closed', failures: 100, successes: 0, openedAt: null, halfOpenInFlight: 0, version: 100 },
    `lost races: ${lost}`,
  );

  // Threshold 60: exactly one process opens the circuit, at exactly the 60th failure; later ones are ignored.
  const openPath = join(dir, 'open.db');
  openStore(t, openPath);
  startAt = Date.now() + 1500;
  const opened = await Promise.all([1, 2].map(() => runChild(openPath, 50, 60, startAt, true)));
  assert.deepEqual(opened.flatMap((c) => c.transitions), ['closed>open']);
  const shared = openStore(t, openPath).get('payments');
  assert.equal(shared?.state, 'open');
  assert.equal(shared?.failures, 60);
  assert.equal(shared?.version, 60);
});
