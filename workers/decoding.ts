/**
 * Payloads a worker cannot decode (its JOBLEDGER_CODEC_KEYS differ from its clients'): every workflow task of
 * such a job fails and is retried, and the SDK would log one line per retry about "Failed to process Workflow
 * Activation". Instead the worker logs one error that names the setting, again at most once per
 * `DECODING_REPORT_INTERVAL_MS` with the number of failures since, and the SDK's own lines about the same
 * failures are dropped (`isDecodingFailureLine`). The failed workflow task still records the error in the
 * job's history, where `jobledger status` and `diagnose` read it (client/blocked.ts).
 */
import { ApplicationFailure, type DataConverter, type PayloadCodec } from '@temporalio/common';
import { DECODING_ERRORS, isDecodingError } from '../codec/codec';
import type { Logger } from '../core/logging';

/** The shortest interval between two reports of one decoding error class. */
export const DECODING_REPORT_INTERVAL_MS = 5 * 60_000;

/** The message of the worker's report. */
export const DECODING_FAILURE_MESSAGE = 'cannot decode a payload: JOBLEDGER_CODEC_KEYS differs between this worker and the client that wrote it';

/** Logs decoding failures, at most one line per error class and interval. */
export class DecodingFailureReporter {
  private readonly last = new Map<string, { at: number; since: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = DECODING_REPORT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  report(err: unknown): void {
    if (!(err instanceof Error) || !isDecodingError(err.name)) return;
    const seen = this.last.get(err.name);
    const at = this.now();
    if (seen && at - seen.at < this.intervalMs) {
      seen.since += 1;
      return;
    }
    this.last.set(err.name, { at, since: 0 });
    this.logger.error(
      {
        setting: DECODING_ERRORS[err.name],
        error_class: err.name,
        error: err.message,
        ...(seen && { failures_since_last_report: seen.since }),
        next_report_after_ms: this.intervalMs,
      },
      DECODING_FAILURE_MESSAGE,
    );
  }
}

/**
 * `inner`, with every decoding failure reported, then thrown on as an `ApplicationFailure` of the error's class:
 * a plain Error reaches the workflow task's failure in history without its class, and `jobledger status`
 * classifies the failure by it (client/blocked.ts).
 */
export function reportingCodec(inner: PayloadCodec, reporter: DecodingFailureReporter): PayloadCodec {
  return {
    encode: (payloads) => inner.encode(payloads),
    async decode(payloads) {
      try {
        return await inner.decode(payloads);
      } catch (err) {
        reporter.report(err);
        if (err instanceof Error && isDecodingError(err.name)) throw ApplicationFailure.create({ type: err.name, message: err.message, cause: err });
        throw err;
      }
    },
  };
}

/** The converter with each of its codecs reporting decoding failures. */
export function reportingDecodingFailures(converter: DataConverter, reporter: DecodingFailureReporter): DataConverter {
  return { ...converter, payloadCodecs: (converter.payloadCodecs ?? []).map((codec) => reportingCodec(codec, reporter)) };
}

const DECODING_CLASS_NAMES = new RegExp(Object.keys(DECODING_ERRORS).join('|'));

/**
 * An SDK or SDK-core log line about a workflow task that failed because a payload could not be decoded: the
 * reporter has said it once already, so the worker drops these (one per retry).
 */
export function isDecodingFailureLine(meta: Record<string, unknown> | undefined): boolean {
  if (meta === undefined) return false;
  const { error, failure } = meta;
  if (error instanceof ApplicationFailure && isDecodingError(error.type ?? undefined)) return true;
  if (error instanceof Error && isDecodingError(error.name)) return true;
  return typeof failure === 'string' && DECODING_CLASS_NAMES.test(failure);
}
