/**
 * Typed HTTP client used by job steps to call sandbox providers. It sends the
 * Idempotency-Key, enforces a timeout, returns the parsed JSON on 2xx and
 * otherwise throws: `ProviderHttpError` when the provider answered with an
 * error status, `ProviderUnavailableError` when there was no usable answer
 * (network failure, dropped socket, timeout). Request bodies are never logged
 * or copied into errors. Both carry the shape jobledger's failure classifier reads
 * (activities/failures.ts): `status` and `retryAfterMs`, or a network `code`, and `dependency`.
 */
import { parseRetryAfter } from '../../resilience/backoff';

export interface CallProviderOptions {
  /** Sent as the Idempotency-Key header. Required. */
  idempotencyKey: string;
  /** Abort the request after this many ms. Default 5000. */
  timeoutMs?: number;
  /** Provider name for errors. Default: the `Sandbox-Provider` response header, else the URL's host. */
  provider?: string;
}

/** The provider answered with a non-2xx status. */
export class ProviderHttpError extends Error {
  override name = 'ProviderHttpError';
  readonly status: number;
  /** From the Retry-After header (seconds or HTTP date), in ms; undefined if absent. */
  readonly retryAfterMs: number | undefined;
  /** `error.type` from the JSON body, e.g. 'out_of_stock', 'idempotency_error'. */
  readonly errorType: string | undefined;
  readonly provider: string;
  readonly path: string;

  constructor(init: {
    status: number;
    retryAfterMs: number | undefined;
    errorType: string | undefined;
    provider: string;
    path: string;
    message: string | undefined;
  }) {
    super(`${init.provider} ${init.path} failed with ${init.status}${init.errorType ? ` (${init.errorType})` : ''}${init.message ? `: ${init.message}` : ''}`);
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.errorType = init.errorType;
    this.provider = init.provider;
    this.path = init.path;
  }

  /** The provider, under the name the failure classifier reads. */
  get dependency(): string {
    return this.provider;
  }
}

/** No usable answer: connection refused/reset, socket dropped, or timeout (`timedOut`). */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
  readonly provider: string;
  readonly path: string;
  readonly timedOut: boolean;

  constructor(provider: string, path: string, cause: unknown, timedOut: boolean) {
    const reason = timedOut ? 'timed out' : `unavailable (${describe(cause)})`;
    super(`${provider} ${path} ${reason}`, { cause });
    this.provider = provider;
    this.path = path;
    this.timedOut = timedOut;
  }

  /** The provider, under the name the failure classifier reads. */
  get dependency(): string {
    return this.provider;
  }

  /** For the failure classifier: ETIMEDOUT when the call timed out, else ECONNRESET (no usable answer; the cause says what happened). */
  get code(): 'ETIMEDOUT' | 'ECONNRESET' {
    return this.timedOut ? 'ETIMEDOUT' : 'ECONNRESET';
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const inner = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${inner}`;
}

/** POSTs `body` as JSON to `baseUrl + path` and returns the parsed JSON response. */
export async function callProvider<T = unknown>(
  baseUrl: string,
  path: string,
  body: unknown,
  options: CallProviderOptions,
): Promise<T> {
  const url = new URL(path, baseUrl);
  let provider = options.provider ?? url.host;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 5000);
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': options.idempotencyKey },
      body: JSON.stringify(body),
      signal,
    });
    provider = options.provider ?? response.headers.get('sandbox-provider') ?? provider;
    text = await response.text();
  } catch (err) {
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    throw new ProviderUnavailableError(provider, path, err, timedOut);
  }

  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok && json !== undefined) return json as T;

  const error = (json as { error?: { type?: unknown; message?: unknown } } | undefined)?.error;
  throw new ProviderHttpError({
    status: response.status,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
    errorType: typeof error?.type === 'string' ? error.type : response.ok ? 'invalid_response' : undefined,
    message: typeof error?.message === 'string' ? error.message : undefined,
    provider,
    path,
  });
}
