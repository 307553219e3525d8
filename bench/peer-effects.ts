/**
 * The external store both sides of the BullMQ comparison (scenario b6) apply their effects to, and the one
 * three-step job they both run. It is an HTTP server on 127.0.0.1 inside the bench process, so a worker
 * killed with SIGKILL cannot take it down or lose its count. Each call is `POST /effects` with the job id and
 * the step; the store counts, per (job, step), every call it received and every effect it applied. A call
 * with an `Idempotency-Key` already applied is answered again without a new effect (the Stripe-style
 * provider pattern of examples/sandbox, reduced to what the count needs); a call without a key always
 * applies. The bench can ask for one call to be held after its effect is applied and before the answer:
 * the window in which it kills the worker that made the call (`X-Worker-Pid`).
 */
import http from 'node:http';
import { listenOnLoopback } from '../core/net';

/** The three steps of the job, in order, the same names on both sides. */
export const PEER_STEPS = ['reserve', 'charge', 'notify'] as const;
export type PeerStep = (typeof PEER_STEPS)[number];

/**
 * The store as a downstream service: jobledger's steps find its URL through `ctx.service(EFFECTS_SERVICE)`,
 * i.e. `JOBLEDGER_SERVICE_EFFECTS_URL`, and the BullMQ worker reads the same variable.
 */
export const EFFECTS_SERVICE = 'effects';

/** What a worker sends for one step. */
export interface EffectCall {
  jobId: string;
  step: PeerStep;
  /** Sent as `Idempotency-Key`; omitted, the call always applies. */
  idempotencyKey?: string;
}

/** One call as the store saw it, handed to `onCall` right after the effect (if any) was applied. */
export interface ObservedCall {
  jobId: string;
  step: string;
  workerPid: number;
  applied: boolean;
}

/** Calls and applied effects of one (job, step). */
export interface EffectCount {
  calls: number;
  applied: number;
}

export interface EffectStore {
  url: string;
  /** Counts by job id, then step. */
  counts(): Map<string, Map<string, EffectCount>>;
  /**
   * Holds the answer to the next call of `(jobId, step)` for `ms` after its effect is applied; resolves with
   * that call once it arrives (the worker is then inside the step, its effect applied, its answer pending).
   */
  holdNext(jobId: string, step: string, ms: number): Promise<ObservedCall>;
  stop(): Promise<void>;
}

/** Sends one step's effect to the store; throws on anything but 200, so the step fails and is retried. */
export async function applyEffect(baseUrl: string, call: EffectCall): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-worker-pid': String(process.pid) };
  if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
  const res = await fetch(`${baseUrl}/effects`, { method: 'POST', headers, body: JSON.stringify({ jobId: call.jobId, step: call.step }), signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`effect store answered ${res.status} for ${call.jobId}/${call.step}`);
}

/** Starts the store on a free 127.0.0.1 port. */
export async function startEffectStore(): Promise<EffectStore> {
  const counts = new Map<string, Map<string, EffectCount>>();
  const appliedKeys = new Set<string>();
  const holds = new Map<string, { ms: number; resolve: (call: ObservedCall) => void }>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/effects') {
        res.writeHead(404).end();
        return;
      }
      let body: { jobId?: unknown; step?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (typeof body.jobId !== 'string' || typeof body.step !== 'string') {
        res.writeHead(400).end();
        return;
      }
      const key = req.headers['idempotency-key'];
      const applied = typeof key !== 'string' || !appliedKeys.has(key);
      if (typeof key === 'string') appliedKeys.add(key);
      const byStep = counts.get(body.jobId) ?? new Map<string, EffectCount>();
      counts.set(body.jobId, byStep);
      const count = byStep.get(body.step) ?? { calls: 0, applied: 0 };
      byStep.set(body.step, count);
      count.calls += 1;
      if (applied) count.applied += 1;

      const holdKey = `${body.jobId}\n${body.step}`;
      const hold = holds.get(holdKey);
      holds.delete(holdKey);
      const answer = () => {
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ applied }));
      };
      if (hold) {
        hold.resolve({ jobId: body.jobId, step: body.step, workerPid: Number(req.headers['x-worker-pid']), applied });
        setTimeout(answer, hold.ms);
      } else answer();
    });
  });
  // A killed worker's sockets reset; that is expected here, not an error of the store.
  server.on('clientError', (_err, socket) => socket.destroy());
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => counts,
    holdNext: (jobId, step, ms) => new Promise((resolve) => holds.set(`${jobId}\n${step}`, { ms, resolve })),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
