/**
 * A job whose workflow task keeps failing is blocked: no step runs, and its `JobStatus` stays where it was
 * (`Submitted`, say) while the workflow is `RUNNING`. Temporal shows it twice: the pending workflow task's
 * attempt count grows (describe), and the history holds a `WorkflowTaskFailed` event with the worker's error.
 * `jobBlock` reads both, and says whether a payload could not be decoded (the workers' and clients'
 * JOBLEDGER_CODEC_KEYS disagree) and what fixes it. `jobledger status`, `diagnose` and `doctor` use it.
 */
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { isDecodingError, type DecodingErrorClass } from '../codec/codec';

/** Why a job is blocked, and what to do. */
export interface JobBlock {
  /** `decoding`: a payload the worker cannot decode; `workflow-task`: any other failure of the workflow task. */
  cause: 'decoding' | 'workflow-task';
  /** The worker's error class, e.g. `MissingCodecKeysError`. */
  errorClass: string;
  /** The worker's error message, from the `WorkflowTaskFailed` event. */
  message: string;
  /** The setting to correct (decoding failures). */
  setting?: string;
  /** Workflow task attempts so far. */
  attempts: number;
  /** When the first failed attempt was recorded. */
  since?: string;
  fix: string;
  runbook: string;
}

/** Older workers (and tools without the codec) fail an encrypted payload with the SDK's own error. */
const SDK_UNKNOWN_ENCRYPTED = /Unknown encoding: binary\/encrypted/;

const DECODING_FIXES: Record<DecodingErrorClass, { setting: string; fix: string }> = {
  MissingCodecKeysError: {
    setting: 'JOBLEDGER_CODEC_KEYS',
    fix:
      'the job was submitted with JOBLEDGER_CODEC_KEYS (encrypted) but the worker has none: restart the workers with the same ' +
      'JOBLEDGER_CODEC_KEYS as the client (or submit without it). The job then continues by itself; nothing is lost or run twice',
  },
  UnencryptedPayloadError: {
    setting: 'JOBLEDGER_CODEC_KEYS',
    fix:
      'the job was submitted without JOBLEDGER_CODEC_KEYS (clear text) but the workers encrypt: give the client the same ' +
      'JOBLEDGER_CODEC_KEYS, then terminate and resubmit the job; or, while migrating, set JOBLEDGER_CODEC_ALLOW_PLAINTEXT=true on the workers',
  },
  UnknownKeyIdError: {
    setting: 'JOBLEDGER_CODEC_KEYS',
    fix: "the workers' JOBLEDGER_CODEC_KEYS lacks the key id the payload names: add that key to the workers' keyring (keep old keys while history uses them)",
  },
  PayloadDecryptionError: {
    setting: 'JOBLEDGER_CODEC_KEYS',
    fix: 'the payload does not decrypt with the key of its id (altered data, or two keys share one id): do not retry; escalate',
  },
};

/** The cause, setting and fix of a workflow task failure of this class and message. */
export function classifyWorkflowTaskFailure(errorClass: string, message: string): Pick<JobBlock, 'cause' | 'setting' | 'fix' | 'runbook'> {
  const decoding: DecodingErrorClass | undefined = isDecodingError(errorClass) ? errorClass : SDK_UNKNOWN_ENCRYPTED.test(message) ? 'MissingCodecKeysError' : undefined;
  if (decoding !== undefined) return { cause: 'decoding', ...DECODING_FIXES[decoding], runbook: 'RUNBOOK.md#encryption' };
  return {
    cause: 'workflow-task',
    fix: "the worker fails this job's workflow task (a bug in the job's workflow code, or a change that is not replay-safe): see the worker's log, fix and redeploy the workers; the job then continues",
    runbook: 'RUNBOOK.md#internal',
  };
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The last `WorkflowTaskFailed` event after the last completed workflow task, if any. */
function lastFailedTask(events: readonly HistoryEvent[]): HistoryEvent | undefined {
  let failed: HistoryEvent | undefined;
  for (const event of events) {
    if (event.workflowTaskCompletedEventAttributes) failed = undefined;
    if (event.workflowTaskFailedEventAttributes) failed = event;
  }
  return failed;
}

/** The class and message of a recorded failure: decoded with the client's codec when it can, else as stored. */
async function failureFacts(client: Client, failure: temporal.api.failure.v1.IFailure): Promise<{ errorClass: string; message: string }> {
  const stored = { errorClass: failure.applicationFailureInfo?.type || 'Error', message: failure.message ?? '' };
  try {
    const error = await decodeOptionalFailureToOptionalError(client.workflow.options.loadedDataConverter, failure);
    return { errorClass: stored.errorClass, message: error?.message || stored.message };
  } catch (err) {
    // Encrypted by the worker with keys this client lacks: the class (never encrypted) still says enough.
    return { ...stored, message: `${stored.message} (this client cannot read it: ${err instanceof Error ? err.message : String(err)})` };
  }
}

/**
 * Why this running job is blocked, or undefined when its workflow task is not failing. Reads the history only
 * when the pending workflow task has been attempted more than once.
 */
export async function jobBlock(client: Client, jobId: string, description?: WorkflowExecutionDescription): Promise<JobBlock | undefined> {
  const described = description ?? (await client.workflow.getHandle(jobId).describe());
  return pendingTaskBlock(client, jobId, described.status.name === 'RUNNING', described.raw.pendingWorkflowTask?.attempt ?? 0);
}

/** `jobBlock` from what the caller described itself: whether the run is open, and its pending workflow task's attempts. */
export async function pendingTaskBlock(client: Client, jobId: string, running: boolean, attempts: number): Promise<JobBlock | undefined> {
  if (!running || attempts <= 1) return undefined;
  const history = await client.workflow.getHandle(jobId).fetchHistory();
  const event = lastFailedTask(history.events ?? []);
  const failure = event?.workflowTaskFailedEventAttributes?.failure;
  if (!event || !failure) return undefined;
  const { errorClass, message } = await failureFacts(client, failure);
  const seconds = event.eventTime?.seconds;
  return {
    ...classifyWorkflowTaskFailure(errorClass, message),
    errorClass,
    message,
    attempts,
    ...(seconds !== undefined && seconds !== null && { since: new Date(Number(seconds) * 1000).toISOString() }),
  };
}

/** Raised instead of waiting on a query that a blocked job's worker cannot answer. */
export class JobBlockedError extends Error {
  override readonly name = 'JobBlockedError';
  constructor(
    readonly jobId: string,
    readonly block: JobBlock,
  ) {
    super(`job ${jobId} is blocked: ${block.errorClass}: ${block.message}`);
  }
}
