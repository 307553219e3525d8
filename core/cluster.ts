/**
 * Any Temporal cluster: the settings beyond one machine (TLS, mTLS, an API key, worker concurrency, the codec
 * and metrics endpoints), the optional configuration file, the named configuration error, and the one function
 * that turns the configuration into connection options for both the client (`Connection.connect`) and the
 * worker (`NativeConnection.connect`), so TLS and the API key apply to both.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { z } from 'zod';

/** A readable regular file, else the problem in a few words (`no such file`, `not readable`, `a directory`). */
export function fileProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'not a regular file';
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? err.code : undefined;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'no such file';
    if (code === 'EACCES' || code === 'EPERM') return 'not readable';
    return err instanceof Error ? err.message : String(err);
  }
}

/** A path to a readable file: the issue names the path and what is wrong with it. */
const ReadableFile = z
  .string()
  .min(1)
  .superRefine((path, ctx) => {
    const problem = fileProblem(path);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${path}: ${problem}`, input: path });
  });

/** A positive whole number given as text (`"abc"` and `"1.5"` are refused). */
const Count = (min: number) =>
  z
    .string()
    .regex(/^\s*\d+\s*$/, { error: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `must be at least ${min}` }));

/** The cluster settings, merged into `Config` (core/config.ts). Every name is the environment variable's. */
export const clusterFields = {
  /** `true` connects with TLS (the system's CAs unless `TEMPORAL_TLS_CA`). Default: on when any TLS file, the server name or an API key is set. */
  TEMPORAL_TLS: z.stringbool().optional(),
  /** PEM file of the CA that signed the server's certificate. Default: the system's CAs. */
  TEMPORAL_TLS_CA: ReadableFile.optional(),
  /** PEM file of the client certificate, for mTLS (with `TEMPORAL_TLS_KEY`). */
  TEMPORAL_TLS_CERT: ReadableFile.optional(),
  /** PEM file of the client certificate's private key, for mTLS (with `TEMPORAL_TLS_CERT`). */
  TEMPORAL_TLS_KEY: ReadableFile.optional(),
  /** Server name (SNI) checked against the server's certificate, when it differs from the address's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** API key (e.g. Temporal Cloud), sent as a bearer token; implies TLS unless `TEMPORAL_TLS=false`. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** Most activity tasks (steps) one worker runs at once. Default: the SDK's (100). */
  JOBLEDGER_MAX_CONCURRENT_ACTIVITIES: Count(1).optional(),
  /** Most workflow tasks one worker runs at once (at least 2). Default: the SDK's (40). */
  JOBLEDGER_MAX_CONCURRENT_WORKFLOW_TASKS: Count(2).optional(),
  /** Base URL of the codec server (`<url>/decode`), checked by `jobledger doctor`. Default none. */
  JOBLEDGER_CODEC_URL: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).optional(),
  /** Bearer token `jobledger doctor` sends to the codec server's `/decode`. Default none (anonymous). */
  JOBLEDGER_CODEC_TOKEN: z.string().min(1).optional(),
  /** Address the worker's Prometheus endpoint binds to: an IP, e.g. `0.0.0.0` to be scraped from other hosts. Default `127.0.0.1`. */
  JOBLEDGER_METRICS_HOST: z.union([z.ipv4(), z.ipv6()], { error: 'must be an IP address, e.g. 127.0.0.1 or 0.0.0.0' }).default('127.0.0.1'),
  /** JSON file of settings (an object of these same names); the environment wins over it. Default none. */
  JOBLEDGER_CONFIG_FILE: z.string().min(1).optional(),
};

/** The cluster settings as parsed, for the functions below. */
export interface ClusterSettings {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_TLS?: boolean | undefined;
  TEMPORAL_TLS_CA?: string | undefined;
  TEMPORAL_TLS_CERT?: string | undefined;
  TEMPORAL_TLS_KEY?: string | undefined;
  TEMPORAL_TLS_SERVER_NAME?: string | undefined;
  TEMPORAL_API_KEY?: string | undefined;
}

/** Issues between fields: a client certificate needs its key, and the other way round. */
export function clusterIssues(settings: ClusterSettings): z.core.$ZodIssue[] {
  const issues: z.core.$ZodIssue[] = [];
  const pair = (has: keyof ClusterSettings, lacks: keyof ClusterSettings) => {
    if (settings[has] !== undefined && settings[lacks] === undefined) {
      issues.push({ code: 'custom', path: [lacks], message: `is required with ${has} (mTLS needs the certificate and its key)`, input: undefined });
    }
  };
  pair('TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY');
  pair('TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CERT');
  return issues;
}

/**
 * Bad configuration: every issue's path is the variable it names. Still a `ZodError` (with `issues`), named
 * `ConfigError`, with a message of one `VARIABLE: problem` per issue. The worker and the CLI exit 2 on it.
 */
export class ConfigError extends z.ZodError {
  override name = 'ConfigError';
  constructor(issues: z.core.$ZodIssue[]) {
    super(issues);
    Object.defineProperty(this, 'message', { value: formatIssues(issues), writable: true, configurable: true, enumerable: false });
  }
}

/** `invalid configuration: A: problem; B: problem`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return `invalid configuration: ${issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`;
}

/**
 * The settings in `JOBLEDGER_CONFIG_FILE` (a JSON object of variable names to strings, numbers or booleans,
 * kept as text as the environment would hold them), or the issues that make it unusable.
 */
export function readConfigFile(path: string | undefined): { values: Record<string, string>; issues: z.core.$ZodIssue[] } {
  if (path === undefined || path === '') return { values: {}, issues: [] };
  const issue = (message: string) => ({ values: {}, issues: [{ code: 'custom' as const, path: ['JOBLEDGER_CONFIG_FILE'], message: `${path}: ${message}`, input: path }] });
  const problem = fileProblem(path);
  if (problem !== undefined) return issue(problem);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return issue(`not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const parsed = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).safeParse(json);
  if (!parsed.success) return issue('must be a JSON object of setting names to strings, numbers or booleans');
  return { values: Object.fromEntries(Object.entries(parsed.data).map(([name, value]) => [name, String(value)])), issues: [] };
}

/** Connection options that both `Connection.connect` (client) and `NativeConnection.connect` (worker) take. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/** Whether this configuration connects with TLS (see `TEMPORAL_TLS`). */
export function usesTls(settings: ClusterSettings): boolean {
  if (settings.TEMPORAL_TLS !== undefined) return settings.TEMPORAL_TLS;
  return [settings.TEMPORAL_TLS_CA, settings.TEMPORAL_TLS_CERT, settings.TEMPORAL_TLS_KEY, settings.TEMPORAL_TLS_SERVER_NAME, settings.TEMPORAL_API_KEY].some(
    (value) => value !== undefined,
  );
}

/** Reads one configured TLS file; a file gone since the configuration was checked is a ConfigError naming it. */
function readTlsFile(variable: 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY', path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError([{ code: 'custom', path: [variable], message: `${path}: ${fileProblem(path) ?? (err as Error).message}`, input: path }]);
  }
}

/** The connection options for this configuration: the address, TLS (CA, client pair, server name) and the API key. */
export function connectionOptionsFrom(settings: ClusterSettings): TemporalConnectionOptions {
  const options: TemporalConnectionOptions = { address: settings.TEMPORAL_ADDRESS };
  if (settings.TEMPORAL_API_KEY !== undefined) options.apiKey = settings.TEMPORAL_API_KEY;
  if (!usesTls(settings)) return options;
  const tls: TLSConfig = {};
  if (settings.TEMPORAL_TLS_CA !== undefined) tls.serverRootCACertificate = readTlsFile('TEMPORAL_TLS_CA', settings.TEMPORAL_TLS_CA);
  if (settings.TEMPORAL_TLS_CERT !== undefined && settings.TEMPORAL_TLS_KEY !== undefined) {
    tls.clientCertPair = { crt: readTlsFile('TEMPORAL_TLS_CERT', settings.TEMPORAL_TLS_CERT), key: readTlsFile('TEMPORAL_TLS_KEY', settings.TEMPORAL_TLS_KEY) };
  }
  if (settings.TEMPORAL_TLS_SERVER_NAME !== undefined) tls.serverNameOverride = settings.TEMPORAL_TLS_SERVER_NAME;
  options.tls = Object.keys(tls).length > 0 ? tls : true;
  return options;
}

/** Worker options for the configured concurrency (only those set; the SDK's defaults otherwise). */
export function concurrencyFrom(settings: {
  JOBLEDGER_MAX_CONCURRENT_ACTIVITIES?: number | undefined;
  JOBLEDGER_MAX_CONCURRENT_WORKFLOW_TASKS?: number | undefined;
}): { maxConcurrentActivityTaskExecutions?: number; maxConcurrentWorkflowTaskExecutions?: number } {
  return {
    ...(settings.JOBLEDGER_MAX_CONCURRENT_ACTIVITIES !== undefined && { maxConcurrentActivityTaskExecutions: settings.JOBLEDGER_MAX_CONCURRENT_ACTIVITIES }),
    ...(settings.JOBLEDGER_MAX_CONCURRENT_WORKFLOW_TASKS !== undefined && { maxConcurrentWorkflowTaskExecutions: settings.JOBLEDGER_MAX_CONCURRENT_WORKFLOW_TASKS }),
  };
}
