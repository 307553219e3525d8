/**
 * Generic sandbox provider: a real HTTP server (node:http, 127.0.0.1 only) with
 * Stripe-style Idempotency-Key semantics, a SQLite store (calls, idempotency,
 * effects) and injectable faults. Payments, inventory and email are all this
 * one server, configured with different operations. Every POST needs an
 * Idempotency-Key: the first request executes the operation and stores its
 * response in the same SQLite transaction that records the effect; a repeat
 * with the same parameters replays the stored response (Idempotent-Replayed:
 * true), a repeat with other parameters gets 422, and a repeat while the first
 * is still executing gets 409. Tests and demos read `stats()` to prove that
 * many raw calls produced exactly one applied effect.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { listenOnLoopback } from '../../core/net';

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

const outageWindowSchema = z.union([
  z
    .strictObject({ fromMs: z.number().int().min(0), toMs: z.number().int().min(0) })
    .refine((w) => w.toMs > w.fromMs, { message: 'toMs must be greater than fromMs' }),
  z.strictObject({ untilEpochMs: z.number().int().min(0) }),
]);

/** Zod schema for a fault configuration; unknown keys are rejected so typos surface as 400s. */
export const faultConfigSchema = z.strictObject({
  /** Probability (0..1) that a request gets 500 before anything is applied. Default 0. */
  errorRate: z.number().min(0).max(1).optional(),
  /**
   * Processing delay in ms, added after the idempotency key is claimed and
   * before the effect is applied (so a concurrent same-key request sees 409,
   * and a client timeout can fire before the effect lands). Default 0.
   */
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  /** Windows during which every request gets 503: `{ fromMs, toMs }` relative to provider start, or `{ untilEpochMs }`. Default none. */
  outage: z.array(outageWindowSchema).optional(),
  /** The next `count` requests get 429 with `Retry-After: retryAfterSec` (default 1). */
  rateLimit: z
    .strictObject({ count: z.number().int().min(1), retryAfterSec: z.number().int().min(0).optional() })
    .optional(),
  /** The next `count` requests get `status` (400..599) with error type `type` (default 'injected_failure'). */
  failNext: z
    .strictObject({
      count: z.number().int().min(1),
      status: z.number().int().min(400).max(599),
      type: z.string().min(1).max(100).optional(),
    })
    .optional(),
  /** The next `count` executed requests apply their effect and commit, then the socket is destroyed without a response. */
  dropAfterApply: z.strictObject({ count: z.number().int().min(1) }).optional(),
  /**
   * Delay in ms after the effect is applied and committed, before the response is sent: the window in
   * which a caller can crash after the side effect but before it learns of it. Default 0.
   */
  delayAfterApplyMs: z.number().int().min(0).max(600_000).optional(),
});

export type FaultConfig = z.infer<typeof faultConfigSchema>;
export type OutageWindow = z.infer<typeof outageWindowSchema>;

/** Thrown by `setFaults` / `startProvider` when a fault configuration is invalid. */
export class FaultConfigError extends Error {
  override name = 'FaultConfigError';
  constructor(readonly issues: z.core.$ZodIssue[]) {
    super(`invalid fault config: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

function parseFaults(input: unknown): FaultConfig {
  const parsed = faultConfigSchema.safeParse(input ?? {});
  if (!parsed.success) throw new FaultConfigError(parsed.error.issues);
  return parsed.data;
}

/** Small seedable PRNG (mulberry32) so fault injection is deterministic in tests. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/** One applied effect as stored in the `effects` table. */
export interface EffectRecord {
  seq: number;
  kind: string;
  orderId: string | null;
  idempotencyKey: string;
  data: Record<string, unknown>;
  appliedAt: string;
}

/** What an operation may read while it executes (inside the SQLite transaction). */
export interface OperationContext {
  /** The request's Idempotency-Key. */
  key: string;
  /** Deterministic resource id from the key: `prefix + first 16 hex of sha256(key)`. */
  id(prefix: string): string;
  /** The effect of `kind` whose `data.id` equals `id`, if any. */
  findEffect(kind: string, id: string): EffectRecord | undefined;
  /** Effects filtered by kind and/or order id, oldest first. */
  listEffects(filter?: EffectFilter): EffectRecord[];
}

/** Result of a successful operation; `effect` (if any) is recorded with the operation's kind. */
export interface OperationResult {
  /** HTTP status. Default 200. */
  status?: number;
  body: unknown;
  effect?: { orderId: string | null; data: Record<string, unknown> };
}

/** A permanent business failure (e.g. 404 unknown charge, 409 out of stock). Stored against the key like a success, no effect. */
export class BusinessError extends Error {
  override name = 'BusinessError';
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A POST endpoint of a provider. `execute` is synchronous because it runs
 * inside the SQLite transaction that also stores the idempotent response.
 */
export interface Operation<S extends z.ZodType = z.ZodType> {
  /** Path, e.g. '/charges'. Always POST. */
  path: string;
  /** Effect kind this operation applies (listed in stats.byKind). */
  kind: string;
  /** Validates the JSON body; failures give 400 with the issues and consume nothing. */
  schema: S;
  execute(input: z.output<S>, ctx: OperationContext): OperationResult;
}

/** Identity helper that keeps the schema's inferred input type for `execute`. */
export function defineOperation<S extends z.ZodType>(op: Operation<S>): Operation {
  return op as unknown as Operation;
}

// ---------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------

export interface ProviderOptions {
  /** Provider name, e.g. 'payments'; sent back in the `Sandbox-Provider` response header. */
  name: string;
  /** SQLite file path (created if missing, WAL mode). */
  dbPath: string;
  /** The POST endpoints this provider serves (required, no default). */
  operations: Operation[];
  /** Initial faults. Default none. */
  faults?: FaultConfig;
  /** Seed for the fault PRNG. Default 42. */
  seed?: number;
  /** Port to listen on (127.0.0.1 only). Default 0 = ephemeral. */
  port?: number;
}

export interface EffectFilter {
  orderId?: string;
  kind?: string;
}

export interface ProviderStats {
  /** Raw requests received on operation paths (admin and health endpoints are not counted). */
  calls: number;
  /** Effects applied. */
  effects: number;
  /** Requests answered from the idempotency store. */
  replays: number;
  /** Applied effects per kind; every operation kind is present, 0 if none. */
  byKind: Record<string, number>;
}

/** One raw request as stored in the `calls` table. */
export interface CallRecord {
  seq: number;
  idempotencyKey: string | null;
  method: string;
  path: string;
  requestHash: string | null;
  /** Status sent (or, for a dropped socket, the status that would have been sent); null if never finished. */
  status: number | null;
  replayed: boolean;
  fault: string | null;
  receivedAt: string;
}

export interface ProviderHandle {
  name: string;
  /** Base URL, e.g. 'http://127.0.0.1:54321'. */
  url: string;
  port: number;
  /** Stops listening, drops open connections, waits for in-flight handlers, closes the db. */
  stop(): Promise<void>;
  stats(): ProviderStats;
  /** Replaces the whole fault config (counters restart). Throws FaultConfigError if invalid. */
  setFaults(faults: FaultConfig): FaultConfig;
  listEffects(filter?: EffectFilter): EffectRecord[];
  listCalls(): CallRecord[];
}

const MAX_BODY_BYTES = 1_000_000;
const MAX_KEY_LENGTH = 255;

/** sha256 hex of a string. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted at every level, so equal bodies hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const parts = Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The request hash used to detect a key reused with different parameters. */
export function requestHash(path: string, body: unknown): string {
  return sha256(`${path}\n${canonicalJson(body)}`);
}

/** Deterministic resource id from an idempotency key. */
export function idFromKey(prefix: string, key: string): string {
  return prefix + sha256(key).slice(0, 16);
}

function errorBody(type: string, message: string, extra?: Record<string, unknown>): string {
  return JSON.stringify({ error: { type, message, ...extra } });
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  idempotency_key TEXT,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  request_hash TEXT,
  status INTEGER,
  replayed INTEGER NOT NULL DEFAULT 0,
  fault TEXT,
  received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  status_code INTEGER,
  response TEXT,
  state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS effects (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  order_id TEXT,
  idempotency_key TEXT NOT NULL UNIQUE,
  data TEXT NOT NULL,
  applied_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS effects_by_order ON effects (order_id, kind);
`;

interface EffectRow {
  seq: number;
  kind: string;
  order_id: string | null;
  idempotency_key: string;
  data: string;
  applied_at: string;
}

interface CallRow {
  seq: number;
  idempotency_key: string | null;
  method: string;
  path: string;
  request_hash: string | null;
  status: number | null;
  replayed: number;
  fault: string | null;
  received_at: string;
}

interface IdempotencyRow {
  key: string;
  request_hash: string;
  status_code: number | null;
  response: string | null;
  state: 'in_flight' | 'done';
}

function toEffect(row: EffectRow): EffectRecord {
  return {
    seq: row.seq,
    kind: row.kind,
    orderId: row.order_id,
    idempotencyKey: row.idempotency_key,
    data: JSON.parse(row.data) as Record<string, unknown>,
    appliedAt: row.applied_at,
  };
}

/** Opens the store, then listens on 127.0.0.1. Resolves once the server accepts connections. */
export async function startProvider(options: ProviderOptions): Promise<ProviderHandle> {
  const { name, operations } = options;
  let faults = parseFaults(options.faults);
  const random = mulberry32(options.seed ?? 42);
  const startedAt = Date.now();
  const opsByPath = new Map(operations.map((op) => [op.path, op]));

  const db = new Database(options.dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  // A claim left by a crash never applied anything (effect and response commit together), so release it.
  db.prepare(`DELETE FROM idempotency WHERE state = 'in_flight'`).run();

  const insertCall = db.prepare(
    `INSERT INTO calls (idempotency_key, method, path, request_hash, received_at) VALUES (?, ?, ?, ?, ?)`,
  );
  const finishCall = db.prepare(`UPDATE calls SET status = ?, replayed = ?, fault = ? WHERE seq = ?`);
  const getKey = db.prepare<[string], IdempotencyRow>(`SELECT * FROM idempotency WHERE key = ?`);
  const claimKey = db.prepare(
    `INSERT INTO idempotency (key, request_hash, state, created_at) VALUES (?, ?, 'in_flight', ?)`,
  );
  const completeKey = db.prepare(
    `UPDATE idempotency SET state = 'done', status_code = ?, response = ? WHERE key = ?`,
  );
  const releaseKey = db.prepare(`DELETE FROM idempotency WHERE key = ? AND state = 'in_flight'`);
  const insertEffect = db.prepare(
    `INSERT INTO effects (kind, order_id, idempotency_key, data, applied_at) VALUES (?, ?, ?, ?, ?)`,
  );
  const effectById = db.prepare<[string, string], EffectRow>(
    `SELECT * FROM effects WHERE kind = ? AND json_extract(data, '$.id') = ?`,
  );

  function listEffects(filter: EffectFilter = {}): EffectRecord[] {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.orderId !== undefined) {
      where.push('order_id = ?');
      params.push(filter.orderId);
    }
    if (filter.kind !== undefined) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    const sql = `SELECT * FROM effects ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`;
    return (db.prepare(sql).all(...params) as EffectRow[]).map(toEffect);
  }

  function listCalls(): CallRecord[] {
    return (db.prepare(`SELECT * FROM calls ORDER BY seq`).all() as CallRow[]).map((r) => ({
      seq: r.seq,
      idempotencyKey: r.idempotency_key,
      method: r.method,
      path: r.path,
      requestHash: r.request_hash,
      status: r.status,
      replayed: r.replayed === 1,
      fault: r.fault,
      receivedAt: r.received_at,
    }));
  }

  function stats(): ProviderStats {
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    const byKind: Record<string, number> = {};
    for (const op of operations) byKind[op.kind] = 0;
    const rows = db.prepare(`SELECT kind, COUNT(*) AS n FROM effects GROUP BY kind`).all() as {
      kind: string;
      n: number;
    }[];
    for (const row of rows) byKind[row.kind] = row.n;
    return {
      calls: count(`SELECT COUNT(*) AS n FROM calls`),
      effects: count(`SELECT COUNT(*) AS n FROM effects`),
      replays: count(`SELECT COUNT(*) AS n FROM calls WHERE replayed = 1`),
      byKind,
    };
  }

  function setFaults(next: FaultConfig): FaultConfig {
    faults = parseFaults(next);
    return faults;
  }

  /** Ms until the active outage window ends, or undefined when no outage is active. */
  function activeOutageMs(): number | undefined {
    const now = Date.now();
    const elapsed = now - startedAt;
    for (const w of faults.outage ?? []) {
      if ('untilEpochMs' in w) {
        if (now < w.untilEpochMs) return w.untilEpochMs - now;
      } else if (elapsed >= w.fromMs && elapsed < w.toMs) {
        return w.toMs - elapsed;
      }
    }
    return undefined;
  }

  interface Reply {
    status: number;
    body: string;
    headers?: Record<string, string>;
    fault?: string;
  }

  /** Fault checks that reject a request before anything is claimed or applied. */
  function injectedFailure(): Reply | undefined {
    const outageMs = activeOutageMs();
    if (outageMs !== undefined) {
      return {
        status: 503,
        body: errorBody('service_unavailable', `${name} is unavailable (injected outage)`),
        headers: { 'Retry-After': String(Math.ceil(outageMs / 1000)) },
        fault: 'outage',
      };
    }
    if (faults.rateLimit) {
      const { retryAfterSec = 1 } = faults.rateLimit;
      faults.rateLimit.count -= 1;
      if (faults.rateLimit.count <= 0) delete faults.rateLimit;
      return {
        status: 429,
        body: errorBody('rate_limited', 'Too many requests (injected)'),
        headers: { 'Retry-After': String(retryAfterSec) },
        fault: 'rate_limit',
      };
    }
    if (faults.failNext) {
      const { status, type = 'injected_failure' } = faults.failNext;
      faults.failNext.count -= 1;
      if (faults.failNext.count <= 0) delete faults.failNext;
      return { status, body: errorBody(type, `Injected failure ${status}`), fault: 'fail_next' };
    }
    if (faults.errorRate && random() < faults.errorRate) {
      return { status: 500, body: errorBody('api_error', 'Injected internal error'), fault: 'error_rate' };
    }
    return undefined;
  }

  /** Consumes one dropAfterApply credit, if any. */
  function takeDrop(): boolean {
    if (!faults.dropAfterApply) return false;
    faults.dropAfterApply.count -= 1;
    if (faults.dropAfterApply.count <= 0) delete faults.dropAfterApply;
    return true;
  }

  const stopping = new AbortController();
  const pending = new Set<Promise<void>>();

  function sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (stopping.signal.aborted) return resolve(false);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        stopping.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      stopping.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  function send(res: http.ServerResponse, reply: Reply, replayed = false): void {
    if (res.destroyed) return;
    res.writeHead(reply.status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(reply.body),
      'Sandbox-Provider': name,
      ...(replayed ? { 'Idempotent-Replayed': 'true' } : {}),
      ...reply.headers,
    });
    res.end(reply.body);
  }

  /** Reads the whole body; 'too_large' past MAX_BODY_BYTES, 'aborted' if the client went away. */
  function readBody(req: http.IncomingMessage): Promise<{ text: string } | 'too_large' | 'aborted'> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      req.on('end', () => resolve(size > MAX_BODY_BYTES ? 'too_large' : { text: Buffer.concat(chunks).toString('utf8') }));
      req.on('error', () => resolve('aborted'));
      req.on('close', () => resolve('aborted')); // no-op if 'end' already resolved
    });
  }

  function handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, url: URL, rawBody: string): void {
    const json = (status: number, value: unknown) => send(res, { status, body: JSON.stringify(value) });
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /_health':
        return json(200, { ok: true, name });
      case 'GET /_admin/stats':
        return json(200, stats());
      case 'GET /_admin/effects': {
        const filter: EffectFilter = {};
        const orderId = url.searchParams.get('orderId');
        const kind = url.searchParams.get('kind');
        if (orderId) filter.orderId = orderId;
        if (kind) filter.kind = kind;
        return json(200, listEffects(filter));
      }
      case 'GET /_admin/faults':
        return json(200, faults);
      case 'POST /_admin/faults': {
        let input: unknown;
        try {
          input = rawBody.trim() === '' ? {} : JSON.parse(rawBody);
        } catch {
          return send(res, { status: 400, body: errorBody('invalid_json', 'Body is not valid JSON') });
        }
        try {
          return json(200, setFaults(input as FaultConfig));
        } catch (err) {
          if (!(err instanceof FaultConfigError)) throw err;
          return send(res, {
            status: 400,
            body: errorBody('invalid_fault_config', err.message, { issues: err.issues }),
          });
        }
      }
      default:
        return send(res, { status: 404, body: errorBody('not_found', `No admin route ${route}`) });
    }
  }

  async function handleOperation(req: http.IncomingMessage, res: http.ServerResponse, path: string, rawBody: string) {
    const method = req.method ?? 'GET';
    const keyHeader = req.headers['idempotency-key'];
    const key = typeof keyHeader === 'string' && keyHeader.length > 0 ? keyHeader : null;
    let body: unknown;
    let parseFailed = false;
    try {
      body = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      parseFailed = true;
    }
    const hash = parseFailed || body === undefined ? null : requestHash(path, body);
    const callSeq = Number(insertCall.run(key, method, path, hash, new Date().toISOString()).lastInsertRowid);

    const reply = (r: Reply, replayed = false) => {
      finishCall.run(r.status, replayed ? 1 : 0, r.fault ?? null, callSeq);
      send(res, r, replayed);
    };
    const fail = (status: number, type: string, message: string, extra?: Record<string, unknown>) =>
      reply({ status, body: errorBody(type, message, extra) });

    const injected = injectedFailure();
    if (injected) return reply(injected);

    const op = opsByPath.get(path);
    if (!op) return fail(404, 'not_found', `No route ${method} ${path}`);
    if (method !== 'POST') return fail(405, 'method_not_allowed', `${path} only accepts POST`);
    if (!key) return fail(400, 'invalid_request', 'Missing Idempotency-Key header');
    if (key.length > MAX_KEY_LENGTH) {
      return fail(400, 'invalid_request', `Idempotency-Key longer than ${MAX_KEY_LENGTH} characters`);
    }
    if (parseFailed || hash === null) return fail(400, 'invalid_json', 'Body must be valid JSON');

    const parsed = op.schema.safeParse(body);
    if (!parsed.success) {
      return fail(400, 'invalid_request', 'Request body failed validation', { issues: parsed.error.issues });
    }

    // Claim the key (or find the earlier request that claimed it).
    const claim = db.transaction((): IdempotencyRow | undefined => {
      const existing = getKey.get(key);
      if (!existing) claimKey.run(key, hash, new Date().toISOString());
      return existing;
    })();
    if (claim) {
      if (claim.request_hash !== hash) {
        return fail(
          422,
          'idempotency_error',
          'Keys for idempotent requests can only be used with the same parameters they were first used with',
        );
      }
      if (claim.state === 'in_flight') {
        return fail(409, 'idempotency_error', 'A request with this Idempotency-Key is still being processed');
      }
      return reply({ status: claim.status_code ?? 200, body: claim.response ?? '{}' }, true);
    }

    if (faults.latencyMs && !(await sleep(faults.latencyMs))) {
      releaseKey.run(key);
      return fail(503, 'service_unavailable', `${name} is shutting down`);
    }

    // Execute, record the effect and store the response in one transaction.
    const ctx: OperationContext = {
      key,
      id: (prefix) => idFromKey(prefix, key),
      findEffect: (kind, id) => {
        const row = effectById.get(kind, id);
        return row ? toEffect(row) : undefined;
      },
      listEffects,
    };
    let outcome: Reply;
    try {
      outcome = db.transaction((): Reply => {
        let result: Reply;
        try {
          const out = op.execute(parsed.data, ctx);
          if (out.effect) {
            insertEffect.run(
              op.kind,
              out.effect.orderId,
              key,
              JSON.stringify(out.effect.data),
              new Date().toISOString(),
            );
          }
          result = { status: out.status ?? 200, body: JSON.stringify(out.body) };
        } catch (err) {
          if (!(err instanceof BusinessError)) throw err;
          result = { status: err.status, body: errorBody(err.type, err.message) };
        }
        completeKey.run(result.status, result.body, key);
        return result;
      })();
    } catch (err) {
      releaseKey.run(key);
      return fail(500, 'api_error', `Operation failed: ${(err as Error).message}`);
    }

    if (faults.delayAfterApplyMs) await sleep(faults.delayAfterApplyMs);
    if (takeDrop()) {
      finishCall.run(outcome.status, 0, 'drop_after_apply', callSeq);
      req.socket.destroy();
      return;
    }
    reply(outcome);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox.local');
    const read = await readBody(req);
    if (read === 'aborted') return;
    if (read === 'too_large') {
      send(res, { status: 413, body: errorBody('invalid_request', 'Body too large') });
      return;
    }
    const rawBody = read.text;
    if (url.pathname === '/_health' || url.pathname.startsWith('/_admin/')) {
      handleAdmin(req, res, url, rawBody);
      return;
    }
    await handleOperation(req, res, url.pathname, rawBody);
  }

  const server = http.createServer((req, res) => {
    const task = handle(req, res)
      .catch((err: unknown) => {
        if (!db.open) return;
        send(res, { status: 500, body: errorBody('api_error', (err as Error).message) });
      })
      .finally(() => pending.delete(task));
    pending.add(task);
  });

  const port = await listenOnLoopback(server, options.port ?? 0);

  let stopped: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopped ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      stopping.abort();
      server.closeAllConnections();
      await Promise.allSettled([...pending]);
      await closed;
      db.close();
    })();
    return stopped;
  }

  return {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    stop,
    stats,
    setFaults,
    listEffects,
    listCalls,
  };
}
