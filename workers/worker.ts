/**
 * Builds a job worker: the workflow bundle, one activity per step of the given definitions, and the
 * ledger behind them. Used by `npm run worker`, the demo and the tests, so all three run the same wiring.
 * A worker built from configuration also runs the ledger health check and stops itself when it fails.
 */
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Runtime, Worker, type WorkerOptions, type WorkerPlugin } from '@temporalio/worker';
import { CIRCUIT_STATE_VALUE, Metric } from '../common/metrics';
import { createActivities } from '../activities';
import { PinoSdkLogger, type Logger } from '../core/logging';
import { assertAdmissible } from '../jobs/admission';
import type { JobDefinition } from '../jobs/define';
import { JobRegistry } from '../jobs/registry';
import { isPostgresUrl, openLedger, redactUrl, type Ledger } from '../ledger';
import { breakerTarget, dataConverterFrom, ledgerTarget, servicesFrom, type Config } from '../core/config';
import { openBreakerStore } from '../resilience/open-store';
import { tracingFor } from '../core/tracing';
import { concurrencyFrom, connectionOptionsFrom } from '../core/cluster';
import { bindMetrics, metricsUrl } from './metrics-port';
import { DecodingFailureReporter, isDecodingFailureLine, reportingDecodingFailures } from './decoding';
import { JobsModuleError, loadJobApp } from '../jobs/app';
import { CircuitBreaker, type CircuitBreakerOptions } from '../resilience';

export interface JobWorkerOptions {
  connection: NativeConnection;
  /** Namespace. Default `default`. */
  namespace?: string;
  taskQueue: string;
  definitions: readonly JobDefinition[];
  ledger: Ledger;
  logger: Logger;
  /** Worker identity, also written into step leases. Default: the SDK's `<pid>@<host>`. */
  identity?: string;
  /** Base URLs of downstream services, by name, handed to steps. Default none. */
  services?: Readonly<Record<string, string>>;
  /** Circuit breakers for the steps' dependencies (see `openBreaker`). Default none. */
  breaker?: CircuitBreaker;
  /** Payload encryption (see `dataConverterFrom`). Default: the SDK's plain JSON converter. */
  dataConverter?: DataConverter;
  /** Worker plugins, e.g. OpenTelemetry tracing (core/tracing.ts). Default none. */
  plugins?: WorkerPlugin[];
  /** Entry of the workflow bundle, when some jobs are workflow code. Default jobledger's own (`WORKFLOWS_PATH`). */
  workflowsPath?: string;
  /** Extra worker options (bundles, concurrency) passed through. */
  extra?: Partial<WorkerOptions>;
  /**
   * How long a shutdown waits for running activities before cancelling them (their step leases are then
   * released, see activities/index.ts). Default: the SDK's, 0 (cancel at once).
   */
  shutdownGraceMs?: number;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** How long cancelled activities get to record their end (release their leases) after the grace time. */
export const SHUTDOWN_CLEANUP_MS = 15_000;

/**
 * Circuit breakers (one per dependency), shared by every worker on every host through PostgreSQL when
 * `target` is a postgres:// URL, or by every worker process on this host through the SQLite file at
 * `target`. State changes are logged.
 */
export async function openBreaker(target: string, logger: Logger, options: Omit<CircuitBreakerOptions, 'store'> = {}): Promise<{ breaker: CircuitBreaker; close(): Promise<void> }> {
  const store = await openBreakerStore(target, (err) => logger.warn({ err }, 'circuit breaker state not synchronised with PostgreSQL; retrying'));
  const breaker = new CircuitBreaker({ ...options, store });
  const gauge = Runtime.instance().metricMeter.createGauge(Metric.circuitState, 'int');
  breaker.onTransition((dependency, from, to) => {
    logger.warn({ dependency, from_state: from, to_state: to }, 'circuit breaker state changed');
    gauge.set(CIRCUIT_STATE_VALUE[to] ?? -1, { dependency });
  });
  return { breaker, close: async () => store.close() };
}


/** Builds the worker; refuses (AdmissionError naming each violation) if a definition breaks policy. */
export async function createJobWorker(options: JobWorkerOptions): Promise<Worker> {
  assertAdmissible(options.definitions);
  const registry = new JobRegistry(options.definitions);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    workflowsPath: options.workflowsPath ?? WORKFLOWS_PATH,
    activities: createActivities({
      registry,
      ledger: options.ledger,
      logger: options.logger,
      ...(options.services !== undefined && { services: options.services }),
      ...(options.breaker !== undefined && { breaker: options.breaker }),
      ...(options.identity !== undefined && { workerIdentity: options.identity }),
    }),
    ...(options.identity !== undefined && { identity: options.identity }),
    ...(options.dataConverter !== undefined && { dataConverter: options.dataConverter }),
    ...(options.plugins !== undefined && { plugins: options.plugins }),
    ...(options.shutdownGraceMs !== undefined && {
      shutdownGraceTime: options.shutdownGraceMs,
      // Past the grace time and the cancellations' own clean-up, the worker gives up instead of hanging.
      shutdownForceTime: options.shutdownGraceMs + SHUTDOWN_CLEANUP_MS,
    }),
    ...options.extra,
  });
}

/** A worker built from configuration, with everything it opened. `close()` releases those after `run()` ends. */
export interface ConfiguredWorker {
  worker: Worker;
  /** Why the worker stopped itself (its ledger failed the health check), or undefined. */
  failure(): Error | undefined;
  close(): Promise<void>;
}

/** How often a configured worker checks its ledger's health (see `watchLedger`), in ms. */
export const LEDGER_CHECK_INTERVAL_MS = 5_000;

/**
 * Consecutive failed health checks that stop a worker: a SQLite file replaced or deleted is final at the
 * first check; a PostgreSQL server gets 30 s (6 checks) to come back from a restart or a failover, during
 * which steps fail with DependencyUnavailable and are retried.
 */
export const FAILED_CHECKS_TO_STOP = { sqlite: 1, postgres: 6 } as const;

/**
 * The worker's health check: every `intervalMs` (default LEDGER_CHECK_INTERVAL_MS), `ledger.checkHealth()`
 * (is the ledger file still the one opened; does the server answer?). After `failuresToStop` failures in a
 * row it stops checking and calls `onFailure` once; a success in between starts the count again. Returns a
 * function that stops the checks. The timer never keeps the process alive.
 */
export function watchLedger(ledger: Pick<Ledger, 'checkHealth'>, onFailure: (err: Error) => void, intervalMs = LEDGER_CHECK_INTERVAL_MS, failuresToStop = 1): () => void {
  let stopped = false;
  let failures = 0;
  const timer = setInterval(() => {
    ledger.checkHealth().then(
      () => {
        failures = 0;
      },
      (err: Error) => {
        if (stopped || ++failures < failuresToStop) return;
        stopped = true;
        clearInterval(timer);
        onFailure(err);
      },
    );
  }, intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/**
 * The worker as `npm run worker` and the demo run it: connection, ledger, shared circuit breakers,
 * payload encryption and downstream services from the configuration (services can be overridden).
 */
export async function workerFromConfig(config: Config, logger: Logger, overrides: { services?: Record<string, string> } = {}): Promise<ConfiguredWorker> {
  const app = await loadJobApp(config.JOBLEDGER_JOBS_MODULE);
  if (app.jobs.length === 0) throw new JobsModuleError('the worker has no jobs to run: set JOBLEDGER_JOBS_MODULE to the module that exports them');
  const connection = await NativeConnection.connect(connectionOptionsFrom(config));
  const ledger = openLedger(ledgerTarget(config));
  const breakers = await openBreaker(breakerTarget(config), logger).catch(async (err: unknown) => {
    await ledger.close();
    await connection.close();
    throw err;
  });
  const tracing = tracingFor(config.JOBLEDGER_TRACING, 'jobledger-worker', config.JOBLEDGER_OTLP_URL);
  let stopWatching = () => {};
  const close = async () => {
    stopWatching();
    await tracing?.shutdown();
    await breakers.close();
    await ledger.close();
    await connection.close();
  };
  try {
    // A payload this worker cannot decode is logged once, naming JOBLEDGER_CODEC_KEYS (workers/decoding.ts).
    const dataConverter = reportingDecodingFailures(dataConverterFrom(config), new DecodingFailureReporter(logger));
    const worker = await createJobWorker({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.JOBLEDGER_TASK_QUEUE,
      definitions: app.jobs,
      ...(app.workflowsPath !== undefined && { workflowsPath: app.workflowsPath }),
      ledger,
      logger,
      services: overrides.services ?? servicesFrom(process.env),
      breaker: breakers.breaker,
      dataConverter,
      ...(tracing && { plugins: [tracing.plugin] }),
      ...(config.JOBLEDGER_WORKER_IDENTITY !== undefined && { identity: config.JOBLEDGER_WORKER_IDENTITY }),
      extra: concurrencyFrom(config),
      shutdownGraceMs: config.JOBLEDGER_SHUTDOWN_GRACE_MS,
    });
    // A ledger deleted or replaced under the worker: step claims already fail (DependencyUnavailable);
    // the worker also stops taking work, so its process exits and can be restarted on a good ledger.
    let failure: Error | undefined;
    const target = ledgerTarget(config);
    const failuresToStop = isPostgresUrl(target) ? FAILED_CHECKS_TO_STOP.postgres : FAILED_CHECKS_TO_STOP.sqlite;
    stopWatching = watchLedger(
      ledger,
      (err) => {
        failure = err;
        logger.error({ err, ledger_path: redactUrl(target), failed_checks: failuresToStop }, 'ledger failed its health check; stopping the worker');
        if (worker.getState() === 'RUNNING') worker.shutdown();
      },
      LEDGER_CHECK_INTERVAL_MS,
      failuresToStop,
    );
    return { worker, failure: () => failure, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The SDK core's log level for each LOG_LEVEL: the same verbosity. */
const CORE_LOG_LEVEL = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' } as const;

/**
 * Installs the process's SDK Runtime: logs through pino, the SDK core's (Rust) own lines included (forwarded
 * at LOG_LEVEL instead of printed as coloured text), metrics on JOBLEDGER_METRICS_HOST:JOBLEDGER_METRICS_PORT (0: off)
 * or, when that port is taken, the next free one (see workers/metrics-port.ts). Resolves to the metrics URL, or `off`.
 */
export async function installRuntime(config: Config, logger: Logger): Promise<string> {
  const port = await bindMetrics(
    config.JOBLEDGER_METRICS_HOST,
    config.JOBLEDGER_METRICS_PORT,
    (bindAddress) =>
      Runtime.install({
        logger: new PinoSdkLogger(logger, isDecodingFailureLine),
        telemetryOptions: {
          logging: { filter: { core: CORE_LOG_LEVEL[config.LOG_LEVEL], other: 'ERROR' }, forward: {} },
          ...(bindAddress !== undefined && { metrics: { prometheus: { bindAddress } } }),
        },
      }),
    logger,
  );
  return metricsUrl(config.JOBLEDGER_METRICS_HOST, port);
}
