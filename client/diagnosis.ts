/**
 * The text of `jobledger status` and `jobledger diagnose`: a job's failure context with every dead-letter
 * episode and the operator actions between them, and a blocked job's cause and fix (client/blocked.ts).
 */
import type { DeadLetterEpisode, FailureContext } from '../common/types';
import type { JobBlock } from './blocked';
import type { JobStatusView } from './jobs';

/** The lines that say why a job is blocked and how to unblock it, indented under its first line. */
export function formatBlock(block: JobBlock): string[] {
  const what = block.cause === 'decoding' ? 'a payload the worker cannot decode' : 'its workflow task fails';
  return [
    `  blocked:    ${what} (${block.errorClass}; ${block.attempts} workflow task attempts${block.since ? ` since ${block.since}` : ''})`,
    `  message:    ${block.message}`,
    ...(block.setting ? [`  setting:    ${block.setting}`] : []),
    `  fix:        ${block.fix}`,
    `  runbook:    ${block.runbook}`,
  ];
}

/** `jobId  type  status  [step]`, then the block when there is one. */
export function formatStatus(status: JobStatusView): string {
  const head = `${status.jobId}\t${status.jobType}\t${status.status}${status.step ? `\t${status.step}` : ''}`;
  if (!status.blocked) return head;
  return [`${head}\tBLOCKED (workflow ${status.workflowStatus}, no step runs)`, ...formatBlock(status.blocked)].join('\n');
}

/** `diagnose` of a blocked job: it cannot answer the query, and this says why. */
export function formatBlockedDiagnosis(jobId: string, block: JobBlock): string {
  return [`${jobId}: blocked, no step runs until this is fixed`, ...formatBlock(block)].join('\n');
}

function formatEpisode(episode: DeadLetterEpisode, index: number, all: readonly DeadLetterEpisode[]): string[] {
  const where = `${episode.phase} '${episode.step}'${episode.attempt ? ` after attempt ${episode.attempt}` : ''}`;
  const action = episode.action;
  return [
    `    ${index + 1}. ${episode.parkedAt} parked at ${where}: ${episode.errorClass}: ${episode.message}`,
    action
      ? `       ${action.at} ${action.action} by ${action.operator}: ${action.reason}`
      : `       ${index === all.length - 1 ? '(parked now, waiting for an operator)' : '(ended without an operator action)'}`,
  ];
}

/** The failure context, its dead-letter episodes (oldest first) and its recent events. */
export function formatFailure(jobId: string, f: FailureContext): string {
  const cause = Object.entries(f.rootCause).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
  const episodes = f.episodes ?? [];
  return [
    `${jobId}: ${f.phase} '${f.step}' failed${f.attempt ? ` on attempt ${f.attempt}` : ''}`,
    `  class:      ${f.errorClass}`,
    `  message:    ${f.message}`,
    `  root cause: ${cause}`,
    `  input:      ${JSON.stringify(f.input)}`,
    `  hint:       ${f.hint}`,
    `  runbook:    ${f.runbook}`,
    ...(episodes.length > 0 ? [`  dead-letter episodes (${episodes.length}):`, ...episodes.flatMap(formatEpisode)] : []),
    '  recent events:',
    ...f.events.map((e) => `    ${e.at} ${e.status}${e.step ? ` ${e.step}` : ''}${e.note ? ` (${e.note})` : ''}`),
  ].join('\n');
}
