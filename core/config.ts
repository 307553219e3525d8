/**
 * Configuration, parsed once from the environment through a zod schema. Every process (client, CLI,
 * worker) reads the same names, so the task queue and addresses are never spelled in two places.
 */
import { z } from 'zod';
import type { DataConverter } from '@temporalio/common';
import { ClearTextCodec, dataConverterOptions } from '../codec/codec';
import { parseKeyring } from '../codec/keys';
import { DEFAULT_TASK_QUEUE } from '../common/constants';
import { clusterFields, clusterIssues, ConfigError, readConfigFile } from './cluster';
import { parseRoleTokens } from './tokens';

/** Roles of dashboard tokens: a `viewer` sees the figures, an `operator` may also resolve dead-lettered jobs. */
export const DashboardRole = z.enum(['viewer', 'operator']);
export type DashboardRole = z.infer<typeof DashboardRole>;

export const Config = z.object({
  /** Temporal frontend address. Default `127.0.0.1:7233` (the dev server of `temporal-dev.sh`). */
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  /** Temporal namespace. Default `default`. */
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Web UI base URL, for links printed by the CLI. Default `http://127.0.0.1:8233`. */
  TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
  /** Task queue the job workflows and activities run on. Default `jobledger`. */
  JOBLEDGER_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
  /** SQLite file of the ledger. Default `.jobledger/ledger.db` under the working directory. */
  JOBLEDGER_LEDGER_PATH: z.string().min(1).default('.jobledger/ledger.db'),
  /** SQLite file of the circuit breakers shared by this host's workers. Default `.jobledger/breakers.db`. */
  JOBLEDGER_BREAKER_PATH: z.string().min(1).default('.jobledger/breakers.db'),
  /**
   * PostgreSQL ledger shared by every host, `postgres://user:password@host:port/db`; when set it wins over
   * JOBLEDGER_LEDGER_PATH. Default none (the SQLite file).
   */
  JOBLEDGER_LEDGER_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' }).optional(),
  /**
   * PostgreSQL database of the circuit breakers shared by every host (resilience/postgres-breaker-store.ts).
   * Default: JOBLEDGER_LEDGER_URL when that is set, else the SQLite file JOBLEDGER_BREAKER_PATH (one host).
   */
  JOBLEDGER_BREAKER_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' }).optional(),
  /**
   * Payload encryption keys, JSON `{ "current": "k2", "keys": { "k1": "<base64 32 bytes>", ... } }`. When set,
   * clients and workers encrypt every payload (and failure messages) with AES-256-GCM. Default none.
   */
  JOBLEDGER_CODEC_KEYS: z.string().min(1).optional(),
  /**
   * With `JOBLEDGER_CODEC_KEYS` set, accept payloads that are not encrypted (`true`), e.g. while history written
   * before encryption was turned on is still replayed. Default `false`: they are refused with `UnencryptedPayloadError`.
   */
  JOBLEDGER_CODEC_ALLOW_PLAINTEXT: z.stringbool().default(false),
  /** Codec server: bearer tokens and roles, JSON `{ "<token>": "viewer" | "auditor" }`. Required by `codec/main.ts`. */
  JOBLEDGER_CODEC_TOKENS: z.string().min(1).optional(),
  /** Codec server: JSON list of paths masked for viewers, e.g. `[["input","customer","email"]]`. Default: from the shipped jobs. */
  JOBLEDGER_CODEC_PII_PATHS: z.string().optional(),
  /** Codec server: comma-separated CORS origins. Default: the Web UI (`TEMPORAL_UI_URL`'s origin, 127.0.0.1:8233, localhost:8233). */
  JOBLEDGER_CODEC_CORS_ORIGINS: z.string().optional(),
  /**
   * Codec server: `viewer` lets requests without an Authorization header `/decode` with PII masked (the local dev
   * Web UI, which sends no token; `temporal-dev.sh` sets it). Never grants `/encode`. Default: unset, such requests get 401.
   */
  JOBLEDGER_CODEC_ANONYMOUS_ROLE: z
    .literal('viewer', { error: "the only anonymous role is 'viewer' (masked /decode); leave it unset to require a token" })
    .optional(),
  /**
   * Dashboard (`jobledger dashboard`): bearer tokens and roles, JSON `{ "<token>": "viewer" | "operator" }`, each
   * token 16+ characters. A viewer sees the figures; an operator may also act on dead-lettered jobs. Default
   * none: the dashboard refuses to start without one.
   */
  JOBLEDGER_DASHBOARD_TOKENS: z
    .string()
    .min(1)
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const parsed = parseRoleTokens(text, DashboardRole, 'a JSON object { "<token>": "viewer" | "operator" }');
      if (parsed.success) return parsed.tokens;
      for (const issue of parsed.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, input: undefined });
      return z.NEVER;
    }),
  /** Port of the worker's Prometheus endpoint (SDK and jobledger metrics) on 127.0.0.1; 0 turns it off. Default 9464. */
  JOBLEDGER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /**
   * Module that exports the application's job definitions as `jobs` (and `workflowsPath` when some are workflow
   * code), for `npm run worker`, the CLI and the codec server. Relative to the working directory. Default none.
   */
  JOBLEDGER_JOBS_MODULE: z.string().min(1).optional(),
  /** Identity recorded as the submitter when the caller names none. No default: submissions need one. */
  JOBLEDGER_SUBMITTED_BY: z.string().min(1).optional(),
  /** Worker identity, written into step leases. Default: the SDK's `<pid>@<host>`. */
  JOBLEDGER_WORKER_IDENTITY: z.string().min(1).optional(),
  /**
   * Graceful shutdown (SIGTERM, SIGINT): the worker stops polling and lets its running activities finish for
   * this many ms; those still running then are cancelled, their step leases released so that their retry
   * starts at once on another worker. Default 30000.
   */
  JOBLEDGER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /** Trace exporter: `none`, `console` or `otlp` (OTLP over HTTP). Default `none`. */
  JOBLEDGER_TRACING: z.enum(['none', 'console', 'otlp']).default('none'),
  /** OTLP/HTTP traces endpoint. Default: the exporter's own (`http://localhost:4318/v1/traces`). */
  JOBLEDGER_OTLP_URL: z.string().url().optional(),
  /** Where `npm run demo` writes its JSON log lines. Default `.jobledger/demo.log`. */
  JOBLEDGER_DEMO_LOG: z.string().min(1).default('.jobledger/demo.log'),
  /** pino level. Default `info`. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Any cluster: TLS, mTLS, API key, worker concurrency, codec and metrics endpoints, the configuration file (core/cluster.ts). */
  ...clusterFields,
});
export type Config = z.infer<typeof Config>;

/**
 * The configuration in `env` (over the settings of `JOBLEDGER_CONFIG_FILE`, when set), with its downstream
 * services checked too (`servicesFrom`): a `ConfigError` (a `ZodError`) lists every invalid variable, so a
 * worker refuses to start (exit 2) rather than fail its first step.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // JOBLEDGER_CONFIG_FILE's settings first, the environment over them: a variable set in both is the environment's.
  const file = readConfigFile(env.JOBLEDGER_CONFIG_FILE);
  const merged: NodeJS.ProcessEnv = { ...file.values, ...env };
  const parsed = Config.safeParse(merged);
  const issues = [...file.issues, ...(parsed.success ? clusterIssues(parsed.data) : parsed.error.issues), ...serviceIssues(merged)];
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);
  return parsed.data;
}

/** The variable that configures downstream service `name`: `JOBLEDGER_SERVICE_<NAME>_URL` (non-alphanumerics become `_`). */
export function serviceVariable(name: string): string {
  return `JOBLEDGER_SERVICE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
}

/** `JOBLEDGER_SERVICE_<NAME>_URL`: the base URL of downstream service `<name>` (lower-cased), for steps' `ctx.service(name)`. */
const SERVICE_VARIABLE = /^JOBLEDGER_SERVICE_([A-Z0-9_]+)_URL$/;
const ServiceUrl = z.url({ protocol: /^https?$/, error: 'must be an http or https URL' });

/** The service variables set in `env`, as [variable, service name, value]. */
function serviceVariables(env: NodeJS.ProcessEnv): [string, string, string][] {
  const found: [string, string, string][] = [];
  for (const [variable, value] of Object.entries(env)) {
    const name = SERVICE_VARIABLE.exec(variable)?.[1];
    if (name !== undefined && value !== undefined) found.push([variable, name.toLowerCase(), value]);
  }
  return found;
}

/** A zod issue, whose path is the variable, for each service variable that is not an http(s) URL. */
function serviceIssues(env: NodeJS.ProcessEnv): z.core.$ZodIssue[] {
  return serviceVariables(env).flatMap(([variable, , value]) => {
    const parsed = ServiceUrl.safeParse(value);
    return parsed.success ? [] : parsed.error.issues.map((issue) => ({ ...issue, path: [variable] }));
  });
}

/**
 * The downstream services steps may call, by name, from every `JOBLEDGER_SERVICE_<NAME>_URL` in `env`:
 * `JOBLEDGER_SERVICE_PAYMENTS_URL` configures `payments`. A value that is not an http(s) URL is a
 * `ZodError` naming its variable (`loadConfig` reports it first).
 */
export function servicesFrom(env: NodeJS.ProcessEnv): Record<string, string> {
  const issues = serviceIssues(env);
  if (issues.length > 0) throw new z.ZodError(issues);
  return Object.fromEntries(serviceVariables(env).map(([, name, value]) => [name, value]));
}

/**
 * The URL of service `name` among `services`: by its name, else by its variable, so `fraud-check` finds the
 * `fraud_check` that `JOBLEDGER_SERVICE_FRAUD_CHECK_URL` configures. Undefined when it is not configured.
 */
export function serviceUrl(services: Readonly<Record<string, string>>, name: string): string | undefined {
  if (Object.hasOwn(services, name)) return services[name];
  const variable = serviceVariable(name);
  return Object.entries(services).find(([other]) => serviceVariable(other) === variable)?.[1];
}

/**
 * The data converter for this configuration: encrypting when keys are configured; otherwise clear text, with
 * encrypted payloads refused by a `MissingCodecKeysError` that names JOBLEDGER_CODEC_KEYS.
 */
export function dataConverterFrom(config: Config): DataConverter {
  if (!config.JOBLEDGER_CODEC_KEYS) return { payloadCodecs: [new ClearTextCodec()] };
  return dataConverterOptions(parseKeyring(config.JOBLEDGER_CODEC_KEYS), { allowPlaintext: config.JOBLEDGER_CODEC_ALLOW_PLAINTEXT });
}

/** Where the breakers live: JOBLEDGER_BREAKER_URL, else JOBLEDGER_LEDGER_URL, else the SQLite file JOBLEDGER_BREAKER_PATH. */
export function breakerTarget(config: Config): string {
  return config.JOBLEDGER_BREAKER_URL ?? config.JOBLEDGER_LEDGER_URL ?? config.JOBLEDGER_BREAKER_PATH;
}

/** Where the ledger lives: JOBLEDGER_LEDGER_URL (PostgreSQL) when set, else the SQLite file JOBLEDGER_LEDGER_PATH. */
export function ledgerTarget(config: Config): string {
  return config.JOBLEDGER_LEDGER_URL ?? config.JOBLEDGER_LEDGER_PATH;
}
