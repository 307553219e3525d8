/**
 * The worker's Prometheus endpoint when its port is taken (e.g. a second worker on the same host): the worker
 * does not die. It tries the configured port, then the next `METRICS_PORT_TRIES - 1` ports, then a port the
 * OS assigns; the endpoint it got is returned (and logged in the `worker started` line).
 */
import { createServer } from 'node:net';
import type { Logger } from '../core/logging';

/** How many ports from the configured one up are tried before the OS picks one. */
export const METRICS_PORT_TRIES = 10;

/** No port could be bound for the metrics endpoint (each try's error is in the message). */
export class MetricsPortError extends Error {
  override readonly name = 'MetricsPortError';
}

/** `host:port` as a socket address (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Binds `host:port` (0: any free port) and releases it at once: the port bound, or undefined if it is taken. */
function probe(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

function addressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use|AddrInUse/i.test(err.message);
}

/**
 * Calls `install(bindAddress)` (which binds the endpoint, e.g. `Runtime.install` with a Prometheus exporter)
 * with the first free port: `port`, `port + 1`, ... (METRICS_PORT_TRIES in all), then OS-assigned ones. A port
 * taken between the probe and the bind is skipped too. Resolves to the port bound; port 0 (metrics off) calls
 * `install(undefined)` and resolves to undefined.
 */
export async function bindMetrics(host: string, port: number, install: (bindAddress: string | undefined) => void, logger?: Logger): Promise<number | undefined> {
  if (port === 0) {
    install(undefined);
    return undefined;
  }
  const failures: string[] = [];
  const tryPort = (candidate: number): boolean => {
    try {
      install(hostPort(host, candidate));
      return true;
    } catch (err) {
      if (!addressInUse(err)) throw err;
      failures.push(`${candidate}: in use`);
      return false;
    }
  };
  for (let candidate = port; candidate < port + METRICS_PORT_TRIES && candidate <= 65535; candidate += 1) {
    if ((await probe(host, candidate)) === undefined) {
      failures.push(`${candidate}: in use`);
      continue;
    }
    if (tryPort(candidate)) {
      if (candidate !== port) logger?.warn({ configured_port: port, port: candidate }, 'metrics port taken; using the next free one');
      return candidate;
    }
  }
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const assigned = await probe(host, 0);
    if (assigned === undefined) break;
    if (tryPort(assigned)) {
      logger?.warn({ configured_port: port, port: assigned }, `metrics ports ${port}-${port + METRICS_PORT_TRIES - 1} taken; using one the OS assigned`);
      return assigned;
    }
  }
  throw new MetricsPortError(`no port for the metrics endpoint on ${host}: ${failures.join(', ')}`);
}

/** The endpoint's URL for the `worker started` line: `http://127.0.0.1:9464/metrics`, or `off`. */
export function metricsUrl(host: string, port: number | undefined): string {
  return port === undefined ? 'off' : `http://${hostPort(host, port)}/metrics`;
}
