/**
 * `jobledger audit export --archive DIR`: adds every closed job to the tamper-evident archive (audit/). A
 * leaf holds the job's full history (proto JSON, as Temporal returns it, payloads as stored), its ledger
 * record, step records and ledger trail (operator actions included). Export is incremental: jobs already
 * in the archive are skipped. Each export ends with an Ed25519-signed checkpoint; the key comes from
 * `--key FILE` or `JOBLEDGER_AUDIT_KEY` and is never printed.
 */
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { appendLeaves, signerFrom, type AuditEntry } from '../audit/archive';
import { ExitCode, UsageError, parseCommand, required, type Command } from '../core/commands';
import type { Ledger } from '../ledger';
import { withJobClient } from './connect';

/** Closed jobs (any job type) as archive entries, oldest first. */
export async function closedJobEntries(client: Client, ledger: Ledger, since?: Date): Promise<AuditEntry[]> {
  const query = `JobType IS NOT NULL AND ExecutionStatus != "Running"${since ? ` AND CloseTime >= "${since.toISOString()}"` : ''}`;
  const entries: AuditEntry[] = [];
  for await (const execution of client.workflow.list({ query })) {
    if (!execution.closeTime) continue;
    const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
    const history = JSON.parse(historyToJSON(await handle.fetchHistory()));
    entries.push({
      jobId: `${execution.workflowId}@${execution.runId}`,
      runId: execution.runId,
      closedAt: execution.closeTime,
      payload: {
        workflowId: execution.workflowId,
        status: execution.status.name,
        history,
        ledger: {
          job: (await ledger.getJobById(execution.workflowId)) ?? null,
          steps: await ledger.listSteps(execution.workflowId),
          events: await ledger.events({ jobId: execution.workflowId }),
        },
      },
    });
  }
  return entries.sort((a, b) => new Date(a.closedAt).getTime() - new Date(b.closedAt).getTime());
}

/** `audit export`: an entry of the CLI's command table. */
export const auditExportCommand: Command = {
  name: 'audit export',
  args: '--archive DIR [--key FILE] [--since DATE]',
  summary: 'add the closed jobs to the archive and sign a checkpoint (prints JSON)',
  async run(argv, output) {
    const { values } = parseCommand(argv, { archive: { type: 'string' }, key: { type: 'string' }, since: { type: 'string' } }, []);
    const dir = required(values.archive, 'archive');
    const since = values.since === undefined ? undefined : new Date(values.since);
    if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since is not a date: ${values.since}`);
    const signer = await signerFrom(values.key ? { keyFile: values.key } : {});
    return withJobClient(async (connected) => {
      const entries = await closedJobEntries(connected.client, connected.ledger, since);
      const result = await appendLeaves(dir, entries, signer);
      output.out(JSON.stringify({ added: result.added, treeSize: result.treeSize, checkpoint: result.checkpoint }));
      return ExitCode.ok;
    });
  },
};
