/**
 * Tests for the sandbox providers: Stripe-style Idempotency-Key semantics,
 * fault injection, the typed client and the runnable entry point. Each test
 * starts its own sandbox in its own temp dir and stops it when done.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { callProvider, ProviderHttpError, ProviderUnavailableError } from '../examples/sandbox/client';
import { recipientHash } from '../examples/sandbox/email';
import { startSandbox, type Sandbox, type SandboxOptions } from '../examples/sandbox/index';
import { FaultConfigError, idFromKey, startProvider } from '../examples/sandbox/provider';
import { paymentOperations } from '../examples/sandbox/payments';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'jobledger-sandbox-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function sandbox(t: TestContext, options: Omit<SandboxOptions, 'dir'> = {}): Promise<Sandbox> {
  const sb = await startSandbox({ dir: tempDir(t), ...options });
  t.after(() => sb.stop());
  return sb;
}

interface RawResponse {
  status: number;
  text: string;
  json: any;
  replayed: boolean;
  headers: Headers;
}

/** A raw POST, so tests can look at status, headers and exact bytes. */
async function post(baseUrl: string, urlPath: string, body: unknown, key?: string): Promise<RawResponse> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key !== undefined) headers['Idempotency-Key'] = key;
  const res = await fetch(baseUrl + urlPath, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    json: text ? JSON.parse(text) : undefined,
    replayed: res.headers.get('idempotent-replayed') === 'true',
    headers: res.headers,
  };
}

const charge = { orderId: 'order-1', customerId: 'cus-1', amount: 1999, currency: 'USD' };

test('first call applies exactly one effect', async (t) => {
  const sb = await sandbox(t);
  const res = await post(sb.urls.payments, '/charges', charge, 'k-first');
  assert.equal(res.status, 200);
  assert.equal(res.replayed, false);
  assert.deepEqual(res.json, {
    id: idFromKey('ch_', 'k-first'),
    orderId: 'order-1',
    amount: 1999,
    currency: 'USD',
    status: 'succeeded',
  });
  assert.match(res.json.id, /^ch_[0-9a-f]{16}$/);
  assert.deepEqual(sb.payments.stats(), { calls: 1, effects: 1, replays: 0, byKind: { charge: 1, refund: 0 } });
  const effects = sb.payments.listEffects({ orderId: 'order-1' });
  assert.equal(effects.length, 1);
  assert.equal(effects[0]?.kind, 'charge');
  assert.equal(effects[0]?.idempotencyKey, 'k-first');
});

test('replay with the same key returns the identical body with Idempotent-Replayed and no second effect', async (t) => {
  const sb = await sandbox(t);
  const first = await post(sb.urls.payments, '/charges', charge, 'k-replay');
  // Same parameters in a different key order hash the same.
  const reordered = { currency: 'USD', amount: 1999, customerId: 'cus-1', orderId: 'order-1' };
  const second = await post(sb.urls.payments, '/charges', reordered, 'k-replay');
  assert.equal(second.status, 200);
  assert.equal(second.text, first.text);
  assert.equal(second.replayed, true);
  assert.equal(first.replayed, false);
  const stats = sb.payments.stats();
  assert.equal(stats.effects, 1);
  assert.equal(stats.replays, 1);
  assert.equal(stats.calls, 2);
});

test('same key with different parameters gets 422 idempotency_error and still one effect', async (t) => {
  const sb = await sandbox(t);
  await post(sb.urls.payments, '/charges', charge, 'k-mismatch');
  const res = await post(sb.urls.payments, '/charges', { ...charge, amount: 5000 }, 'k-mismatch');
  assert.equal(res.status, 422);
  assert.equal(res.json.error.type, 'idempotency_error');
  assert.equal(typeof res.json.error.message, 'string');
  // The same key on another path is also different parameters.
  const other = await post(sb.urls.payments, '/refunds', { chargeId: 'ch_x', amount: 1 }, 'k-mismatch');
  assert.equal(other.status, 422);
  assert.equal(sb.payments.stats().effects, 1);
});

test('missing Idempotency-Key gets 400 and no effect', async (t) => {
  const sb = await sandbox(t);
  const res = await post(sb.urls.payments, '/charges', charge);
  assert.equal(res.status, 400);
  assert.equal(res.json.error.type, 'invalid_request');
  assert.match(res.json.error.message, /Idempotency-Key/);
  assert.equal(sb.payments.stats().effects, 0);
});

test('concurrent same-key requests apply exactly one effect', async (t) => {
  // Processing latency keeps the first request in flight while the others arrive.
  const sb = await sandbox(t, { faults: { payments: { latencyMs: 150 } } });
  const results = await Promise.all(
    Array.from({ length: 8 }, () => post(sb.urls.payments, '/charges', charge, 'k-concurrent')),
  );
  const fresh = results.filter((r) => r.status === 200 && !r.replayed);
  const others = results.filter((r) => !(r.status === 200 && !r.replayed));
  assert.equal(fresh.length, 1);
  for (const r of others) {
    assert.ok(r.status === 409 || (r.status === 200 && r.replayed), `unexpected ${r.status}`);
    if (r.status === 409) assert.equal(r.json.error.type, 'idempotency_error');
    else assert.equal(r.text, fresh[0]?.text);
  }
  assert.ok(others.some((r) => r.status === 409), 'expected at least one 409 while in flight');
  // After the first finishes, the same key replays.
  const after = await post(sb.urls.payments, '/charges', charge, 'k-concurrent');
  assert.equal(after.replayed, true);
  assert.equal(after.text, fresh[0]?.text);
  assert.equal(sb.payments.stats().effects, 1);
  assert.equal(sb.payments.stats().calls, 9);
});

test('outage window gets 503 with Retry-After and applies no effect', async (t) => {
  const sb = await sandbox(t, {
    faults: { payments: { outage: [{ fromMs: 0, toMs: 60_000 }] }, inventory: { outage: [{ untilEpochMs: Date.now() + 60_000 }] } },
  });
  const res = await post(sb.urls.payments, '/charges', charge, 'k-outage');
  assert.equal(res.status, 503);
  assert.equal(res.json.error.type, 'service_unavailable');
  assert.ok(Number(res.headers.get('retry-after')) > 0);
  const inv = await post(sb.urls.inventory, '/reservations', { orderId: 'o', items: [{ sku: 'A', qty: 1 }] }, 'k-o2');
  assert.equal(inv.status, 503);
  assert.equal(sb.payments.stats().effects, 0);
  assert.equal(sb.inventory.stats().effects, 0);
  // Health and admin stay reachable during an outage; once it is cleared the same key executes.
  assert.equal((await fetch(`${sb.urls.payments}/_health`)).status, 200);
  sb.payments.setFaults({});
  const ok = await post(sb.urls.payments, '/charges', charge, 'k-outage');
  assert.equal(ok.status, 200);
  assert.equal(ok.replayed, false);
  assert.equal(sb.payments.stats().effects, 1);
});

test('errorRate 1 gets 500 and applies no effect; the key stays usable', async (t) => {
  const sb = await sandbox(t, { faults: { payments: { errorRate: 1 } } });
  for (let i = 0; i < 3; i++) {
    const res = await post(sb.urls.payments, '/charges', charge, 'k-500');
    assert.equal(res.status, 500);
    assert.equal(res.json.error.type, 'api_error');
  }
  assert.equal(sb.payments.stats().effects, 0);
  assert.equal(sb.payments.stats().calls, 3);
  sb.payments.setFaults({ errorRate: 0 });
  assert.equal((await post(sb.urls.payments, '/charges', charge, 'k-500')).status, 200);
});

test('rate limit gets 429 with Retry-After that the client parses into retryAfterMs', async (t) => {
  const sb = await sandbox(t, { faults: { payments: { rateLimit: { count: 2, retryAfterSec: 3 } } } });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      callProvider(sb.urls.payments, '/charges', charge, { idempotencyKey: 'k-429' }),
      (err: unknown) => {
        assert.ok(err instanceof ProviderHttpError);
        assert.equal(err.name, 'ProviderHttpError');
        assert.equal(err.status, 429);
        assert.equal(err.retryAfterMs, 3000);
        assert.equal(err.errorType, 'rate_limited');
        assert.equal(err.provider, 'payments');
        assert.equal(err.path, '/charges');
        return true;
      },
    );
  }
  const ok = await callProvider<{ id: string }>(sb.urls.payments, '/charges', charge, { idempotencyKey: 'k-429' });
  assert.equal(ok.id, idFromKey('ch_', 'k-429'));
  assert.equal(sb.payments.stats().effects, 1);
});

test('dropAfterApply: client sees ProviderUnavailableError, effect recorded once, retry replays the stored response', async (t) => {
  const sb = await sandbox(t, { faults: { payments: { dropAfterApply: { count: 1 } } } });
  await assert.rejects(
    callProvider(sb.urls.payments, '/charges', charge, { idempotencyKey: 'k-drop', provider: 'payments' }),
    (err: unknown) => {
      assert.ok(err instanceof ProviderUnavailableError);
      assert.equal(err.name, 'ProviderUnavailableError');
      assert.equal(err.provider, 'payments');
      assert.equal(err.timedOut, false);
      assert.ok(err.cause);
      return true;
    },
  );
  assert.equal(sb.payments.stats().effects, 1);
  const retry = await post(sb.urls.payments, '/charges', charge, 'k-drop');
  assert.equal(retry.status, 200);
  assert.equal(retry.replayed, true);
  assert.equal(retry.json.id, idFromKey('ch_', 'k-drop'));
  assert.deepEqual(sb.payments.stats(), { calls: 2, effects: 1, replays: 1, byKind: { charge: 1, refund: 0 } });
  assert.equal(sb.payments.listCalls()[0]?.fault, 'drop_after_apply');
});

test('client timeout throws ProviderUnavailableError; the slow request still lands once', async (t) => {
  const sb = await sandbox(t, { faults: { payments: { latencyMs: 300 } } });
  await assert.rejects(
    callProvider(sb.urls.payments, '/charges', charge, { idempotencyKey: 'k-slow', timeoutMs: 50 }),
    (err: unknown) => err instanceof ProviderUnavailableError && err.timedOut,
  );
  // While the first is still processing, a retry gets 409 (retryable).
  await assert.rejects(
    callProvider(sb.urls.payments, '/charges', charge, { idempotencyKey: 'k-slow' }),
    (err: unknown) => err instanceof ProviderHttpError && err.status === 409 && err.errorType === 'idempotency_error',
  );
  await new Promise((r) => setTimeout(r, 400));
  const res = await post(sb.urls.payments, '/charges', charge, 'k-slow');
  assert.equal(res.replayed, true);
  assert.equal(sb.payments.stats().effects, 1);
});

test('out-of-stock reservation gets 409 out_of_stock, no effect, and the outcome is replayed', async (t) => {
  const sb = await sandbox(t);
  const body = { orderId: 'order-2', items: [{ sku: 'A-1', qty: 1 }, { sku: 'OUT-9', qty: 2 }] };
  await assert.rejects(
    callProvider(sb.urls.inventory, '/reservations', body, { idempotencyKey: 'k-oos' }),
    (err: unknown) => err instanceof ProviderHttpError && err.status === 409 && err.errorType === 'out_of_stock',
  );
  const again = await post(sb.urls.inventory, '/reservations', body, 'k-oos');
  assert.equal(again.status, 409);
  assert.equal(again.replayed, true);
  assert.deepEqual(sb.inventory.stats().byKind, { reserve: 0, release: 0, ship: 0, unship: 0 });
});

test('reserve then release; releasing an unknown reservation gets 404', async (t) => {
  const sb = await sandbox(t);
  const res = await callProvider<{ id: string; status: string }>(
    sb.urls.inventory,
    '/reservations',
    { orderId: 'order-3', items: [{ sku: 'A-1', qty: 2 }] },
    { idempotencyKey: 'k-res' },
  );
  assert.match(res.id, /^res_[0-9a-f]{16}$/);
  const rel = await callProvider<{ status: string }>(sb.urls.inventory, '/releases', { reservationId: res.id }, {
    idempotencyKey: 'k-rel',
  });
  assert.equal(rel.status, 'released');
  const unknown = await post(sb.urls.inventory, '/releases', { reservationId: 'res_nope' }, 'k-rel-2');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.type, 'not_found');
  assert.deepEqual(sb.inventory.stats().byKind, { reserve: 1, release: 1, ship: 0, unship: 0 });
  assert.deepEqual(
    sb.inventory.listEffects({ orderId: 'order-3' }).map((e) => e.kind),
    ['reserve', 'release'],
  );
});

test('refund of an unknown charge gets 404; a refund of a real charge applies one refund effect', async (t) => {
  const sb = await sandbox(t);
  const unknown = await post(sb.urls.payments, '/refunds', { chargeId: 'ch_missing', amount: 100 }, 'k-ref-0');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.type, 'not_found');
  const ch = await callProvider<{ id: string }>(sb.urls.payments, '/charges', charge, { idempotencyKey: 'k-ch' });
  const refund = await callProvider<{ id: string; chargeId: string; status: string }>(
    sb.urls.payments,
    '/refunds',
    { chargeId: ch.id, amount: 500 },
    { idempotencyKey: 'k-ref-1' },
  );
  assert.equal(refund.chargeId, ch.id);
  assert.equal(refund.status, 'succeeded');
  assert.match(refund.id, /^re_/);
  const tooMuch = await post(sb.urls.payments, '/refunds', { chargeId: ch.id, amount: 1500 }, 'k-ref-2');
  assert.equal(tooMuch.status, 400);
  assert.equal(tooMuch.json.error.type, 'refund_exceeds_charge');
  assert.deepEqual(sb.payments.stats().byKind, { charge: 1, refund: 1 });
  assert.equal(sb.payments.listEffects({ orderId: 'order-1', kind: 'refund' }).length, 1);
});

test('bad fault config gets 400 with the issue list', async (t) => {
  const sb = await sandbox(t);
  const res = await post(`${sb.urls.payments}`, '/_admin/faults', { errorRate: 2, outage: [{ fromMs: 10, toMs: 5 }], bogus: 1 });
  assert.equal(res.status, 400);
  assert.equal(res.json.error.type, 'invalid_fault_config');
  assert.ok(Array.isArray(res.json.error.issues));
  const paths = res.json.error.issues.map((i: { path: unknown[] }) => i.path.join('.'));
  assert.ok(paths.includes('errorRate'), JSON.stringify(paths));
  assert.ok(res.json.error.issues.some((i: { code: string }) => i.code === 'unrecognized_keys'));
  assert.throws(() => sb.payments.setFaults({ latencyMs: -1 }), FaultConfigError);
  // A valid config is accepted at runtime and takes effect.
  const ok = await post(sb.urls.payments, '/_admin/faults', { failNext: { count: 1, status: 502 } });
  assert.equal(ok.status, 200);
  assert.equal((await post(sb.urls.payments, '/charges', charge, 'k-f')).status, 502);
  assert.equal((await post(sb.urls.payments, '/charges', charge, 'k-f')).status, 200);
});

test('calls are counted separately from effects', async (t) => {
  const sb = await sandbox(t, { faults: { payments: { failNext: { count: 2, status: 503 } } } });
  await post(sb.urls.payments, '/charges', charge, 'k-count'); // 503
  await post(sb.urls.payments, '/charges', charge, 'k-count'); // 503
  await post(sb.urls.payments, '/charges', charge, 'k-count'); // 200, effect
  await post(sb.urls.payments, '/charges', charge, 'k-count'); // replay
  await post(sb.urls.payments, '/charges', charge); // 400, no key
  await fetch(`${sb.urls.payments}/_admin/stats`); // admin calls are not counted
  const res = await fetch(`${sb.urls.payments}/_admin/stats`);
  assert.deepEqual(await res.json(), { calls: 5, effects: 1, replays: 1, byKind: { charge: 1, refund: 0 } });
  const effects = (await (await fetch(`${sb.urls.payments}/_admin/effects?orderId=order-1&kind=charge`)).json()) as unknown[];
  assert.equal(effects.length, 1);
  assert.deepEqual(
    sb.payments.listCalls().map((c) => [c.status, c.fault, c.replayed]),
    [
      [503, 'fail_next', false],
      [503, 'fail_next', false],
      [200, null, false],
      [200, null, true],
      [400, null, false],
    ],
  );
});

test('email response never contains the recipient address', async (t) => {
  const sb = await sandbox(t);
  const address = 'jane.doe@example.com';
  const body = { to: address, template: 'order_confirmed', orderId: 'order-4' };
  const first = await post(sb.urls.email, '/emails', body, 'k-email');
  const replay = await post(sb.urls.email, '/emails', body, 'k-email');
  assert.equal(first.status, 200);
  assert.match(first.json.id, /^em_[0-9a-f]{16}$/);
  for (const r of [first, replay]) {
    assert.ok(!r.text.includes(address));
    assert.ok(!r.text.includes('jane.doe'));
  }
  const bad = await post(sb.urls.email, '/emails', { ...body, to: 'not-an-address@' }, 'k-email-bad');
  assert.equal(bad.status, 400);
  assert.ok(!bad.text.includes('not-an-address'));
  const effects = sb.email.listEffects();
  assert.equal(effects.length, 1);
  assert.ok(!JSON.stringify(effects).includes(address));
  assert.equal(effects[0]?.data.toHash, recipientHash(address));
});

test('malformed JSON and invalid bodies get 400 without consuming the key', async (t) => {
  const sb = await sandbox(t);
  const malformed = await post(sb.urls.payments, '/charges', '{"orderId":', 'k-bad');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json.error.type, 'invalid_json');
  const invalid = await post(sb.urls.payments, '/charges', { ...charge, amount: -5, currency: 'US' }, 'k-bad');
  assert.equal(invalid.status, 400);
  assert.equal(invalid.json.error.type, 'invalid_request');
  const paths = invalid.json.error.issues.map((i: { path: unknown[] }) => i.path.join('.'));
  assert.deepEqual(paths.sort(), ['amount', 'currency']);
  assert.equal(sb.payments.stats().effects, 0);
  const ok = await post(sb.urls.payments, '/charges', charge, 'k-bad');
  assert.equal(ok.status, 200);
  assert.equal(ok.replayed, false);
  const notFound = await post(sb.urls.payments, '/nope', {}, 'k-x');
  assert.equal(notFound.status, 404);
});

test('stored responses survive a provider restart on the same database', async (t) => {
  const dir = tempDir(t);
  const dbPath = path.join(dir, 'payments.db');
  const first = await startProvider({ name: 'payments', dbPath, operations: paymentOperations });
  const a = await post(first.url, '/charges', charge, 'k-restart');
  await first.stop();
  const second = await startProvider({ name: 'payments', dbPath, operations: paymentOperations });
  t.after(() => second.stop());
  const b = await post(second.url, '/charges', charge, 'k-restart');
  assert.equal(b.replayed, true);
  assert.equal(b.text, a.text);
  assert.equal(second.stats().effects, 1);
});

test('examples/sandbox/main.ts prints the urls, writes the port file and stops on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const portFile = path.join(dir, 'ports.json');
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/sandbox/main.ts', '--dir', dir, '--port-file', portFile], {
    cwd: path.resolve(__dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
  });
  const urls = JSON.parse(line);
  assert.deepEqual(Object.keys(urls).sort(), ['email', 'inventory', 'payments']);
  for (const url of Object.values(urls) as string[]) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(JSON.parse(readFileSync(portFile, 'utf8')), urls);
  assert.equal((await fetch(`${urls.payments}/_health`)).status, 200);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(existsSync(portFile), false);
});
