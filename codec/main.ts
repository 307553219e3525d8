/**
 * Runs the codec server: `tsx codec/main.ts [--port N]`. Its settings are read through the project's
 * configuration schema (`core/config.ts`): keys from `JOBLEDGER_CODEC_KEYS`, bearer tokens from
 * `JOBLEDGER_CODEC_TOKENS` (`{ "<token>": "viewer" | "auditor" }`), and anonymous decoding only when
 * `JOBLEDGER_CODEC_ANONYMOUS_ROLE=viewer`. Unless `JOBLEDGER_CODEC_PII_PATHS` names the paths, viewers
 * get the PII fields of every shipped job's input masked. It prints `{"url":...,"port":...}` as one line
 * on stdout once listening, and stops on SIGTERM or SIGINT. Bad configuration exits with code 2.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Config } from '../core/config';
import { createLogger } from '../core/logging';
import type { JobDefinition } from '../jobs/define';
import { loadJobApp } from '../jobs/app';
import { CodecConfigError, parseKeyring } from './keys';
import { piiPathsOf } from './masking';
import { DEFAULT_CORS_ORIGINS, parseCodecTokens, startCodecServer, type CodecServerOptions } from './server';

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

/** The server options from the environment (PII paths default to those of `jobs`); `CodecConfigError` when something is missing or invalid. */
export function codecServerOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, jobs: readonly JobDefinition[] = []): Omit<CodecServerOptions, 'port' | 'logger'> {
  const parsed = Config.safeParse(env);
  if (!parsed.success) throw new CodecConfigError('codec server configuration is invalid', parsed.error.issues);
  const config = parsed.data;
  const { JOBLEDGER_CODEC_KEYS: keys, JOBLEDGER_CODEC_TOKENS: tokens } = config;
  if (!keys || !tokens) {
    const missing = [...(keys ? [] : ['JOBLEDGER_CODEC_KEYS']), ...(tokens ? [] : ['JOBLEDGER_CODEC_TOKENS'])];
    throw new CodecConfigError(
      'codec server configuration is invalid',
      missing.map((name) => ({ code: 'custom' as const, path: [name], message: `${name} is required`, input: undefined })),
    );
  }

  let piiPaths = jobPayloadPiiPaths(jobs);
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
    : [...new Set([new URL(config.TEMPORAL_UI_URL).origin, ...DEFAULT_CORS_ORIGINS])];

  return {
    keyring: parseKeyring(keys),
    tokens: parseCodecTokens(tokens),
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
    options = codecServerOptionsFromEnv(process.env, (await loadJobApp(process.env.JOBLEDGER_JOBS_MODULE)).jobs);
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
