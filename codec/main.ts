/**
 * Runs the codec server: `tsx codec/main.ts [--port N]`. Keys come from `JOBLEDGER_CODEC_KEYS` and
 * bearer tokens from `JOBLEDGER_CODEC_TOKENS` (`{ "<token>": "viewer" | "auditor" }`). Unless
 * `JOBLEDGER_CODEC_PII_PATHS` names the paths, viewers get the PII fields of every shipped job's input
 * masked. It prints `{"url":...,"port":...}` as one line on stdout once listening, and stops on
 * SIGTERM or SIGINT. Bad configuration exits with code 2.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createLogger } from '../core/logging';
import type { JobDefinition } from '../jobs/define';
import { DEFAULT_JOBS } from '../jobs';
import { CodecConfigError, parseKeyring } from './keys';
import { piiPathsOf } from './masking';
import { DEFAULT_CORS_ORIGINS, parseCodecTokens, startCodecServer, type CodecServerOptions } from './server';

const CodecServerEnv = z.object({
  /** The keyring, `{ "current": "<id>", "keys": { "<id>": "<base64 of 32 bytes>" } }`. Required. */
  JOBLEDGER_CODEC_KEYS: z.string().min(1, 'JOBLEDGER_CODEC_KEYS is required'),
  /** Bearer tokens and roles, `{ "<token>": "viewer" | "auditor" }`. Required. */
  JOBLEDGER_CODEC_TOKENS: z.string().min(1, 'JOBLEDGER_CODEC_TOKENS is required'),
  /** JSON list of paths masked for viewers, e.g. `[["input","customer","email"]]`. Default: from the shipped jobs. */
  JOBLEDGER_CODEC_PII_PATHS: z.string().optional(),
  /** Comma-separated CORS origins. Default: the Web UI (`TEMPORAL_UI_URL`'s origin, 127.0.0.1:8233, localhost:8233). */
  JOBLEDGER_CODEC_CORS_ORIGINS: z.string().optional(),
  /** `viewer` gives requests without a token (the local Web UI) masked payloads. Default: unset, 401. */
  JOBLEDGER_CODEC_ANONYMOUS_ROLE: z.literal('viewer').optional(),
  /** The Web UI, whose origin is allowed by default. */
  TEMPORAL_UI_URL: z.url().optional(),
});

const PiiPaths = z.array(z.array(z.string()));

/**
 * The PII paths of the jobs' inputs as they appear in job payloads: the workflow arguments, the plan
 * and the step arguments all carry the input under `input`.
 */
export function jobPayloadPiiPaths(jobs: readonly JobDefinition[]): string[][] {
  const paths = new Map<string, string[]>();
  for (const job of jobs) {
    for (const path of piiPathsOf(job.input)) {
      const full = ['input', ...path];
      paths.set(JSON.stringify(full), full);
    }
  }
  return [...paths.values()];
}

/** The server options from the environment; `CodecConfigError` when something is missing or invalid. */
export function codecServerOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Omit<CodecServerOptions, 'port' | 'logger'> {
  const parsed = CodecServerEnv.safeParse(env);
  if (!parsed.success) throw new CodecConfigError('codec server configuration is invalid', parsed.error.issues);
  const config = parsed.data;

  let piiPaths = jobPayloadPiiPaths(DEFAULT_JOBS);
  if (config.JOBLEDGER_CODEC_PII_PATHS !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(config.JOBLEDGER_CODEC_PII_PATHS);
    } catch {
      json = undefined;
    }
    const paths = PiiPaths.safeParse(json);
    if (!paths.success) throw new CodecConfigError('JOBLEDGER_CODEC_PII_PATHS must be a JSON list of paths', paths.error.issues);
    piiPaths = paths.data;
  }

  const corsOrigins = config.JOBLEDGER_CODEC_CORS_ORIGINS
    ? config.JOBLEDGER_CODEC_CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean)
    : [...new Set([...(config.TEMPORAL_UI_URL ? [new URL(config.TEMPORAL_UI_URL).origin] : []), ...DEFAULT_CORS_ORIGINS])];

  return {
    keyring: parseKeyring(config.JOBLEDGER_CODEC_KEYS),
    tokens: parseCodecTokens(config.JOBLEDGER_CODEC_TOKENS),
    piiPaths,
    corsOrigins,
    ...(config.JOBLEDGER_CODEC_ANONYMOUS_ROLE && { anonymousRole: config.JOBLEDGER_CODEC_ANONYMOUS_ROLE }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
  const port = z.coerce.number().int().min(0).max(65535).safeParse(values.port);
  if (!port.success) {
    process.stderr.write('usage: tsx codec/main.ts [--port N]  (N from 0 to 65535; 0 picks a free port)\n');
    process.exit(2);
  }

  let options: ReturnType<typeof codecServerOptionsFromEnv>;
  try {
    options = codecServerOptionsFromEnv();
  } catch (err) {
    if (!(err instanceof CodecConfigError)) throw err;
    process.stderr.write(`${err.name}: ${err.message}\n`);
    process.exit(2);
  }

  const logger = createLogger({ name: 'codec-server' });
  const server = await startCodecServer({ ...options, port: port.data, logger });
  process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port })}\n`);

  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'codec server stopping');
    server.stop().then(
      () => logger.flush(() => process.exit(0)),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`codec server failed: ${(err as Error).name}: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
