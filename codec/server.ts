/**
 * The codec server: the HTTP endpoints the Temporal Web UI and CLI call to show encrypted payloads
 * (`POST /decode`) and to encrypt payloads they send (`POST /encode`), in Temporal's remote codec JSON
 * format. Callers present `Authorization: Bearer <token>`; without one they get 401, unless
 * `anonymousRole` lets them decode as viewers. An `auditor` decodes payloads in full and is the only
 * role that may encode, since workers trust what is encrypted. A `viewer` sees JSON payloads with the
 * PII paths masked; its other encrypted payloads stay encrypted. A payload that cannot be decrypted
 * (altered, or an unknown key) fails the request with 422 naming its index. It listens on 127.0.0.1
 * only and never logs tokens or payload contents.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import type { Logger } from '../core/logging';
import { EncryptionCodec, PayloadDecryptionError, decryptPayload, encodingOf } from './codec';
import { CodecConfigError, UnknownKeyIdError, type Keyring } from './keys';
import { maskPii, type JsonPath } from './masking';
import { HttpError, listenOnLoopback, readJsonBody } from '../core/net';
import { BearerTokens, parseRoleTokens } from '../core/tokens';

export type CodecRole = 'viewer' | 'auditor';

/** The Web UI of `temporal-dev.sh` (port 8233), under both names of the loopback host. */
export const DEFAULT_CORS_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

const ALLOWED_HEADERS = 'Authorization, Content-Type, X-Namespace';
const ALLOWED_METHODS = 'POST, OPTIONS';

export interface CodecServerOptions {
  /** Keys to encrypt with (the current one) and decrypt with (the one each payload names). Required. */
  keyring: Keyring;
  /** Bearer tokens and their roles, `{ "<token>": "viewer" | "auditor" }`. Required, at least one; tokens have 16+ characters. */
  tokens: Record<string, CodecRole>;
  /** JSON paths masked in `json/plain` payloads decoded for viewers (see `piiPathsOf`). Default: none, so viewers see JSON in full. */
  piiPaths?: readonly JsonPath[];
  /** Origins whose browsers may call the server (CORS). Default: the Web UI, `http://127.0.0.1:8233` and `http://localhost:8233`. */
  corsOrigins?: string[];
  /**
   * Role of requests that carry no Authorization header at all, on `/decode` only (a wrong token is still
   * 401, and `/encode` always needs an auditor token). For the local dev Web UI, which cannot send tokens:
   * `viewer` lets it show masked payloads. Default none: 401.
   */
  anonymousRole?: 'viewer';
  /** Port on 127.0.0.1. Default 0: a free port, reported in `url` and `port`. */
  port?: number;
  /** Largest request body accepted, in bytes; larger ones get 413. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Where one line per request goes (route, role, status, payload count; never tokens or contents). Default: no logging. */
  logger?: Logger;
}

export interface CodecServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`; the endpoints are `<url>/encode` and `<url>/decode`. */
  url: string;
  port: number;
  /** Stops listening and closes open connections. */
  stop(): Promise<void>;
}

const Role = z.enum(['viewer', 'auditor']);

/**
 * Validates a token map (`{ token: role }`, or its JSON text). Throws `CodecConfigError`; issue paths
 * name tokens by position, never by value.
 */
export function parseCodecTokens(config: string | unknown, source = 'JOBLEDGER_CODEC_TOKENS'): Record<string, CodecRole> {
  const parsed = parseRoleTokens(config, Role, 'a JSON object { "<token>": "viewer" | "auditor" }');
  if (!parsed.success) throw new CodecConfigError(`${source} is not valid`, parsed.issues);
  return parsed.tokens;
}

/** The request body, and the response body: payloads with base64 metadata values and data. */
const CodecBody = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), z.base64()).optional(),
      data: z.base64().optional(),
    }),
  ),
});
type JsonPayload = NonNullable<z.infer<typeof CodecBody>['payloads'][number]>;

function fromJson(payload: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value, 'base64');
  return { metadata, data: Buffer.from(payload.data ?? '', 'base64') };
}

function toJson(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value).toString('base64');
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

function routeOf(pathname: string): 'encode' | 'decode' | undefined {
  const match = /^(?:\/[^/]+)?\/(encode|decode)\/?$/.exec(pathname);
  return match ? (match[1] as 'encode' | 'decode') : undefined;
}

function parseBody(json: unknown): Payload[] {
  const parsed = CodecBody.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new HttpError(400, 'bad_request', `body must be { "payloads": [{ "metadata": { key: base64 }, "data": base64 }] } (${where})`);
  }
  return parsed.data.payloads.map(fromJson);
}

/** Starts the codec server on 127.0.0.1. See `CodecServerOptions` for the defaults. */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const codec = new EncryptionCodec(options.keyring);
  if (options.anonymousRole !== undefined && options.anonymousRole !== 'viewer') {
    throw new CodecConfigError('anonymousRole is not valid', [
      { code: 'custom', path: ['anonymousRole'], message: "the only anonymous role is 'viewer'", input: undefined },
    ]);
  }
  const tokens = new BearerTokens(parseCodecTokens(options.tokens, 'tokens'));
  const piiPaths = options.piiPaths ?? [];
  const corsOrigins = new Set(options.corsOrigins ?? DEFAULT_CORS_ORIGINS);
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const log = options.logger;

  /**
   * Decrypts every encrypted payload (others pass through: history written without the codec is already
   * clear text). Any that cannot be decrypted fail the whole request with 422, each named by its index.
   */
  function decryptAll(payloads: Payload[]): Payload[] {
    const failures: Array<{ index: number; error: string; reason: string }> = [];
    const decoded = payloads.map((payload, index) => {
      try {
        return decryptPayload(payload, options.keyring);
      } catch (err) {
        if (!(err instanceof PayloadDecryptionError || err instanceof UnknownKeyIdError)) throw err;
        failures.push({ index, error: err.name, reason: err.message });
        return payload;
      }
    });
    if (failures.length > 0) {
      log?.warn({ failures }, 'payloads cannot be decrypted');
      const indexes = failures.map((failure) => failure.index).join(', ');
      throw new HttpError(422, 'undecryptable_payload', `cannot decrypt payload(s) at index ${indexes}`, { failures });
    }
    return decoded;
  }

  /** What a viewer sees: JSON with the PII paths masked; anything else that was encrypted stays encrypted. */
  function forViewer(original: Payload, decoded: Payload): Payload {
    if (encodingOf(decoded) !== 'json/plain') return original;
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(decoded.data ?? new Uint8Array()).toString('utf8'));
    } catch {
      return original;
    }
    return { metadata: decoded.metadata, data: Buffer.from(JSON.stringify(maskPii(value, piiPaths)), 'utf8') };
  }

  async function respond(route: 'encode' | 'decode', role: CodecRole, payloads: Payload[]): Promise<Payload[]> {
    if (route === 'encode') return codec.encode(payloads);
    const decoded = decryptAll(payloads);
    return role === 'auditor' ? decoded : decoded.map((payload, index) => forViewer(payloads[index]!, payload));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<{ status: number; route?: string; role?: CodecRole; count?: number }> {
    const origin = req.headers.origin;
    const headers: Record<string, string> = { Vary: 'Origin', 'Cache-Control': 'no-store' };
    if (origin && corsOrigins.has(origin)) {
      headers['Access-Control-Allow-Origin'] = origin;
      headers['Access-Control-Allow-Credentials'] = 'true';
    }
    const send = (status: number, body?: unknown): void => {
      if (body === undefined) {
        res.writeHead(status, headers).end();
      } else {
        res.writeHead(status, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      }
    };

    if (req.method === 'OPTIONS') {
      if (headers['Access-Control-Allow-Origin']) {
        headers['Access-Control-Allow-Methods'] = ALLOWED_METHODS;
        headers['Access-Control-Allow-Headers'] = ALLOWED_HEADERS;
        headers['Access-Control-Max-Age'] = '600';
      }
      send(204);
      return { status: 204 };
    }

    try {
      const route = routeOf(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      if (!route) throw new HttpError(404, 'not_found', 'the endpoints are POST /encode and POST /decode');
      if (req.method !== 'POST') {
        headers.Allow = ALLOWED_METHODS;
        throw new HttpError(405, 'method_not_allowed', `${route} takes POST`);
      }
      const anonymous = req.headers.authorization === undefined;
      const role = anonymous ? (route === 'decode' ? options.anonymousRole : undefined) : tokens.roleOf(req.headers.authorization);
      if (!role) {
        headers['WWW-Authenticate'] = 'Bearer';
        throw new HttpError(401, 'unauthorized', 'a valid "Authorization: Bearer <token>" header is required');
      }
      if (route === 'encode' && role !== 'auditor') {
        throw new HttpError(403, 'forbidden', 'encode needs an auditor token: workers trust encrypted payloads, so a viewer may only decode');
      }
      const payloads = parseBody(await readJsonBody(req, maxBodyBytes));
      const result = await respond(route, role, payloads);
      send(200, { payloads: result.map(toJson) });
      return { status: 200, route, role, count: payloads.length };
    } catch (err) {
      if (err instanceof HttpError) {
        send(err.status, { error: err.code, message: err.message, ...err.details });
        return { status: err.status };
      }
      log?.error({ err: { name: (err as Error).name, message: (err as Error).message } }, 'codec request failed');
      send(500, { error: 'internal', message: 'the codec server could not process the request' });
      return { status: 500 };
    }
  }

  const server = createServer((req, res) => {
    const started = Date.now();
    handle(req, res).then(
      (outcome) => log?.info({ method: req.method, ...outcome, ms: Date.now() - started }, 'codec request'),
      (err: unknown) => {
        log?.error({ err: { name: (err as Error).name } }, 'codec request crashed');
        if (!res.headersSent) res.writeHead(500).end();
      },
    );
  });

  const port = await listenOnLoopback(server, options.port ?? 0);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
