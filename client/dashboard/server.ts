/**
 * The dashboard's HTTP server, on 127.0.0.1 only. `GET /` is the page (a sign-in form until a token is
 * given; it holds no data), `/assets/*` its script and styles and uPlot's files from node_modules (the
 * page needs no network). The data and the actions need `Authorization: Bearer <token>` with a token of
 * JOBLEDGER_DASHBOARD_TOKENS: `GET /api/state?window=15m|1h|24h|7d` (any role) answers the page's state;
 * `POST /api/actions` (operators only) sends a dead-letter action through `JobClient.act`, the code path
 * of `jobledger dlq <action>`, so it lands in the job's history and ledger trail as the CLI's does.
 * No token or an unknown one: 401; a viewer's POST: 403. Tokens travel in a header, never in a URL, and
 * are never logged.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { DEAD_LETTER_ACTIONS } from '../../common/types';
import type { DashboardRole } from '../../core/config';
import type { Logger } from '../../core/logging';
import { HttpError, listenOnLoopback, readJsonBody } from '../../core/net';
import { BearerTokens } from '../../core/tokens';
import { OperatorActionInput, OperatorActionRejectedError } from '../jobs';
import { DashboardWindow } from './figures';
import { DashboardStateReader, type DashboardSources } from './state';

export interface DashboardOptions extends DashboardSources {
  /** Tokens and their roles (`viewer`, `operator`); at least one. Required. */
  tokens: Readonly<Record<string, DashboardRole>>;
  /** Port on 127.0.0.1. Default 0: a free port, reported in `url`. */
  port?: number;
  /** One line per API request (route, role, status; never tokens) and per action. Default: no logging. */
  logger?: Logger;
}

export interface DashboardServer {
  /** e.g. `http://127.0.0.1:41234/` */
  url: string;
  port: number;
  /** Stops listening and closes open connections. */
  stop(): Promise<void>;
}

/** The body of `POST /api/actions`: which job, which dead-letter action, who and why. */
export const DashboardAction = z.strictObject({
  jobId: z.string().min(1),
  action: z.enum(DEAD_LETTER_ACTIONS),
  operator: z.unknown(),
  reason: z.unknown(),
});

/** The page and its assets: served from files read once, at start. */
function staticAssets(): Map<string, { type: string; body: Buffer }> {
  const here = __dirname;
  const uplot = dirname(require.resolve('uplot'));
  const file = (path: string, type: string) => ({ type, body: readFileSync(path) });
  return new Map([
    ['/', file(join(here, 'page.html'), 'text/html; charset=utf-8')],
    ['/assets/dashboard.js', file(join(here, 'page.js'), 'text/javascript; charset=utf-8')],
    ['/assets/dashboard.css', file(join(here, 'page.css'), 'text/css; charset=utf-8')],
    ['/assets/uPlot.iife.min.js', file(join(uplot, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8')],
    ['/assets/uPlot.min.css', file(join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8')],
  ]);
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** The largest action body accepted, in bytes. */
const MAX_BODY_BYTES = 16 * 1024;

function issuesText(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Starts the dashboard on 127.0.0.1. See `DashboardOptions`. */
export async function startDashboard(options: DashboardOptions): Promise<DashboardServer> {
  if (Object.keys(options.tokens).length === 0) throw new Error('the dashboard needs at least one token (JOBLEDGER_DASHBOARD_TOKENS)');
  const tokens = new BearerTokens(options.tokens);
  const assets = staticAssets();
  const reader = new DashboardStateReader(options);
  const log = options.logger;
  // Read the ledger's events once before serving: the first page load then only reads what is new.
  await reader.refresh();

  function authorize(req: IncomingMessage, res: ServerResponse): DashboardRole {
    const role = tokens.roleOf(req.headers.authorization);
    if (role === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      throw new HttpError(401, 'unauthorized', 'a dashboard token is required: "Authorization: Bearer <token>"');
    }
    return role;
  }

  async function act(req: IncomingMessage, role: DashboardRole) {
    if (role !== 'operator') throw new HttpError(403, 'forbidden', 'dead-letter actions need an operator token; this token is a viewer');
    const body = DashboardAction.safeParse(await readJsonBody(req, MAX_BODY_BYTES));
    if (!body.success) throw new HttpError(400, 'bad_request', issuesText(body.error.issues), { issues: body.error.issues });
    const { jobId, action } = body.data;
    // The CLI's checks (identity and reason present, trimmed, no control characters) and its call.
    const input = OperatorActionInput.safeParse({ action, operator: body.data.operator, reason: body.data.reason });
    if (!input.success) throw new HttpError(400, 'invalid_action', issuesText(input.error.issues), { issues: input.error.issues });
    try {
      const accepted = await options.jobs.act(jobId, input.data);
      reader.invalidate();
      log?.info({ job_id: jobId, action, operator: input.data.operator }, 'dashboard: dead-letter action accepted');
      return { jobId, ...accepted, operator: input.data.operator, reason: input.data.reason };
    } catch (err) {
      if (err instanceof OperatorActionRejectedError) throw new HttpError(409, 'rejected', err.message);
      throw err;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<{ status: number; role?: DashboardRole }> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));
    };
    let role: DashboardRole | undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const asset = assets.get(url.pathname);
      if (asset && (req.method === 'GET' || req.method === 'HEAD')) {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Cache-Control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : asset.body);
        return { status: 200 };
      }
      if (url.pathname === '/api/state' && req.method === 'GET') {
        role = authorize(req, res);
        const window = DashboardWindow.safeParse(url.searchParams.get('window') ?? '15m');
        if (!window.success) throw new HttpError(400, 'bad_request', `window must be one of ${DashboardWindow.options.join(', ')}`);
        send(200, { role, state: await reader.read(window.data) });
        return { status: 200, role };
      }
      if (url.pathname === '/api/actions' && req.method === 'POST') {
        role = authorize(req, res);
        send(200, await act(req, role));
        return { status: 200, role };
      }
      throw new HttpError(404, 'not_found', 'no such page');
    } catch (err) {
      if (err instanceof HttpError) {
        send(err.status, { error: err.code, message: err.message, ...err.details });
        return { status: err.status, ...(role && { role }) };
      }
      log?.error({ err: { name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) } }, 'dashboard request failed');
      send(500, { error: 'internal', message: err instanceof Error ? err.message : String(err) });
      return { status: 500, ...(role && { role }) };
    }
  }

  const server = createServer((req, res) => {
    const started = Date.now();
    handle(req, res).then(
      (outcome) => {
        if (req.url?.startsWith('/api/')) log?.info({ method: req.method, path: req.url.split('?')[0], ...outcome, ms: Date.now() - started }, 'dashboard request');
      },
      () => {
        if (!res.headersSent) res.writeHead(500).end();
      },
    );
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
