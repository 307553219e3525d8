/**
 * Logging: pino writing one JSON object per line to stdout, and the one adapter from the Temporal SDK's
 * `(message, meta)` logger to pino's `(meta, message)`. Job lines carry `job_id` through child bindings;
 * errors under `err` or `error` (pino's and the SDK's conventions) keep their class, message and cause.
 */
import pino, { type Logger as PinoLogger } from 'pino';
import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import { jobLogFields } from '../common/logfields';

export type Logger = PinoLogger;

/** Log fields that may hold payloads or personal data. */
export const REDACTED_PATHS = ['input', '*.input', 'email', '*.email', 'customer', '*.customer', 'to', 'payload', '*.payload'];

/**
 * Errors as JSON: class (`type`), message, stack and the `cause` chain, plus any own fields. An
 * ApplicationFailure's own `type` (the taxonomy class) would be hidden by the class name, so it is
 * kept as `failure_type`. Anything that is not error-like passes through unchanged.
 */
export function serializeError(value: unknown): unknown {
  if (!value || typeof (value as Error).message !== 'string') return value;
  const err = value as Error & { type?: unknown };
  const out: Record<string, unknown> = pino.stdSerializers.errWithCause(err);
  if (typeof err.type === 'string' && err.type !== out.type) out.failure_type = err.type;
  // pino keeps only error-like causes; a cause that is a plain value is kept as it is.
  if (out.cause === undefined && err.cause !== undefined) out.cause = err.cause;
  return out;
}

export function createLogger(options: { level?: string; name?: string } = {}, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: options.name ?? 'jobledger' },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      // Every line has status and outcome (null unless the call sets them): the fixed job log schema.
      mixin: () => ({ status: null, outcome: null }),
      // `err` by pino's convention, `error` by the Temporal SDK's (e.g. "Activity failed" { error }).
      serializers: { err: serializeError, error: serializeError },
      // Defence in depth: job code never logs inputs, but if it does, these never leave in clear.
      redact: { paths: REDACTED_PATHS, censor: '***' },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

const SDK_TO_PINO = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Lets the Temporal SDK (Runtime, worker, workflow and activity loggers) log through pino. */
export class PinoSdkLogger implements SdkLogger {
  /** `drop` leaves out lines said elsewhere already (e.g. the worker's one report of a decoding failure). */
  constructor(
    private readonly pino: Logger,
    private readonly drop: (meta: LogMetadata | undefined) => boolean = () => false,
  ) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (this.drop(meta)) return;
    // Workflow log metadata crosses the sandbox boundary without its null fields: restore the fixed set.
    const fields = meta && typeof meta.job_id === 'string' && typeof meta.job_type === 'string'
      ? { ...jobLogFields({ job_id: meta.job_id, job_type: meta.job_type }), ...meta }
      : (meta ?? {});
    this.pino[SDK_TO_PINO[level]](fields, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
