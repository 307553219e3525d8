/**
 * `jobledger doctor [--fix] [--json]`: one pass or fail line per check of a deployment, from the configuration
 * every process reads: the configuration itself (TLS files included), connectivity, the namespace, every
 * search attribute (with `--fix`, the missing ones are registered through the operator service), the codec
 * server, the ledger, a worker polling the task queue, and running jobs blocked by a failing workflow task
 * (a payload the workers cannot decode, say). Every check is bounded in time.
 *
 * Exit 0 when every check passes (or is skipped), 1 when one fails, 2 when the configuration is invalid.
 */
import { connect as tcpConnect } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import list from '../common/search-attributes.json';
import { ConfigError, connectionOptionsFrom, usesTls } from '../core/cluster';
import { dataConverterFrom, ledgerTarget, loadConfig, type Config } from '../core/config';
import { pendingTaskBlock, type JobBlock } from './blocked';
import { ExitCode, parseCommand, type Command, type Output } from '../core/commands';
import { openLedger } from '../ledger';
import { redactUrl } from '../ledger/postgres';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  /** What was checked: `config`, `tls`, `connect`, `namespace`, `search attribute JobType`, `codec`, `ledger`, `worker`. */
  check: string;
  status: CheckStatus;
  /** What was found, or the problem. */
  detail: string;
}

/** How long one check may take (connecting included). */
export const CHECK_TIMEOUT_MS = 5_000;
/** A poller seen longer ago than this is not counted (a long poll lasts about a minute). */
const POLLER_FRESH_MS = 2 * 60_000;

/** A check that did not finish within its time. */
export class CheckTimeoutError extends Error {
  override readonly name = 'CheckTimeoutError';
}

/** `promise`, or a CheckTimeoutError after `ms`. */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeoutError(`no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A connection failure in a few words: `refused`, `unknown host`, `no answer within 5 s`, a TLS problem, else the error's message. */
export function describeConnectError(err: unknown): string {
  const text = messageOf(err);
  if (/ECONNREFUSED|connection refused/i.test(text)) return 'refused';
  if (/ENOTFOUND|EAI_AGAIN|name resolution|dns/i.test(text)) return `unknown host (${text})`;
  if (/ssl|tls|certificate|handshake|alert/i.test(text)) return `TLS handshake failed: ${text}`;
  if (err instanceof CheckTimeoutError || /deadline/i.test(text)) return `no answer within ${CHECK_TIMEOUT_MS / 1000} s (${text})`;
  return text;
}

/** The server's names for the search attribute types, and the project's (search-attributes.json). */
const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const TYPE_NAMES: Record<number, string> = {
  [IndexedValueType.INDEXED_VALUE_TYPE_TEXT]: 'Text',
  [IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]: 'Keyword',
  [IndexedValueType.INDEXED_VALUE_TYPE_INT]: 'Int',
  [IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE]: 'Double',
  [IndexedValueType.INDEXED_VALUE_TYPE_BOOL]: 'Bool',
  [IndexedValueType.INDEXED_VALUE_TYPE_DATETIME]: 'Datetime',
  [IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST]: 'KeywordList',
};
const DECLARED_TYPES = { Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, Int: IndexedValueType.INDEXED_VALUE_TYPE_INT } as const;
const Declared = z.record(z.string(), z.enum(['Keyword', 'Int']));

/** The project's search attributes, name to type name, from common/search-attributes.json. */
export function declaredSearchAttributes(): Record<string, keyof typeof DECLARED_TYPES> {
  return Declared.parse(list.attributes);
}

/** The TLS line: what the connection will use. */
function tlsCheck(config: Config): CheckResult {
  if (!usesTls(config)) return { check: 'tls', status: 'pass', detail: 'off (plain connection)' };
  const parts = [
    config.TEMPORAL_TLS_CA !== undefined ? `CA ${config.TEMPORAL_TLS_CA}` : "the system's CAs",
    ...(config.TEMPORAL_TLS_CERT !== undefined ? [`client certificate ${config.TEMPORAL_TLS_CERT}`] : []),
    ...(config.TEMPORAL_TLS_SERVER_NAME !== undefined ? [`server name ${config.TEMPORAL_TLS_SERVER_NAME}`] : []),
    ...(config.TEMPORAL_API_KEY !== undefined ? ['API key'] : []),
  ];
  return { check: 'tls', status: 'pass', detail: `on (${parts.join(', ')})` };
}

/** Every declared search attribute on the namespace, with its type; with `fix`, the missing ones are added first. */
async function searchAttributeChecks(connection: Connection, namespace: string, fix: boolean): Promise<CheckResult[]> {
  const declared = declaredSearchAttributes();
  const registered = async () => {
    const response = await within(CHECK_TIMEOUT_MS, connection.operatorService.listSearchAttributes({ namespace }));
    return new Map<string, number>(Object.entries(response.customAttributes ?? {}));
  };
  let found = await registered();
  const fixed = new Set<string>();
  if (fix) {
    const missing = Object.entries(declared).filter(([name]) => !found.has(name));
    if (missing.length > 0) {
      const searchAttributes = Object.fromEntries(missing.map(([name, type]) => [name, DECLARED_TYPES[type]]));
      await within(CHECK_TIMEOUT_MS * 2, connection.operatorService.addSearchAttributes({ namespace, searchAttributes }));
      for (const [name] of missing) fixed.add(name);
      found = await registered();
    }
  }
  return Object.entries(declared).map(([name, type]): CheckResult => {
    const check = `search attribute ${name}`;
    const actual = found.get(name);
    if (actual === undefined) return { check, status: 'fail', detail: `search attribute ${name} (${type}) missing — run doctor --fix` };
    if (actual !== DECLARED_TYPES[type]) {
      const actualName = TYPE_NAMES[actual] ?? `type ${actual}`;
      return { check, status: 'fail', detail: `search attribute ${name} is ${actualName}, expected ${type} — remove it on the server, then run doctor --fix` };
    }
    return { check, status: 'pass', detail: `${name} (${type})${fixed.has(name) ? ' registered by --fix' : ''}` };
  });
}

/** Identities of the workers polling a task queue (seen in the last 2 minutes), for workflow and for activity tasks. */
export interface TaskQueuePollers {
  workflow: string[];
  activity: string[];
}

/** Who polls `taskQueue`, from Temporal's task-queue description; each call bounded to 5 s. */
export async function taskQueuePollers(service: Connection['workflowService'], namespace: string, taskQueue: string): Promise<TaskQueuePollers> {
  const { TaskQueueKind, TaskQueueType } = temporal.api.enums.v1;
  const pollers = async (taskQueueType: temporal.api.enums.v1.TaskQueueType) => {
    const response = await within(
      CHECK_TIMEOUT_MS,
      service.describeTaskQueue({ namespace, taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL }, taskQueueType }),
    );
    const now = Date.now();
    return (response.pollers ?? [])
      .filter((poller) => {
        const seconds = poller.lastAccessTime?.seconds;
        return seconds === undefined || seconds === null || now - Number(seconds) * 1000 < POLLER_FRESH_MS;
      })
      .map((poller) => poller.identity ?? '(no identity)');
  };
  const [workflow, activity] = await Promise.all([pollers(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), pollers(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)]);
  return { workflow, activity };
}

/** A worker polling the task queue for workflow tasks and for activity tasks. */
async function workerCheck(connection: Connection, namespace: string, taskQueue: string): Promise<CheckResult> {
  const { workflow, activity } = await taskQueuePollers(connection.workflowService, namespace, taskQueue);
  if (workflow.length === 0 && activity.length === 0) {
    return { check: 'worker', status: 'fail', detail: `no worker polls task queue ${taskQueue} — start one (npm run worker) with JOBLEDGER_TASK_QUEUE=${taskQueue}` };
  }
  if (workflow.length === 0 || activity.length === 0) {
    const lacking = workflow.length === 0 ? 'workflow' : 'activity';
    return { check: 'worker', status: 'fail', detail: `task queue ${taskQueue} has no ${lacking} poller (workflow: ${workflow.join(', ') || 'none'}; activity: ${activity.join(', ') || 'none'})` };
  }
  const identities = [...new Set([...workflow, ...activity])];
  return { check: 'worker', status: 'pass', detail: `${identities.length} worker(s) polling task queue ${taskQueue}: ${identities.join(', ')}` };
}

/** How many running jobs, newest first, the `blocked jobs` check looks at. */
export const BLOCKED_SCAN_LIMIT = 100;

/**
 * Running jobs whose workflow task keeps failing (client/blocked.ts), e.g. a payload the workers cannot decode
 * because their JOBLEDGER_CODEC_KEYS differ from the clients'. Looks at the newest `BLOCKED_SCAN_LIMIT`.
 */
export async function blockedJobsCheck(connection: Connection, config: Config): Promise<CheckResult> {
  const namespace = config.TEMPORAL_NAMESPACE;
  const client = new Client({ connection, namespace, dataConverter: dataConverterFrom(config) });
  const encryption = `this client: ${config.JOBLEDGER_CODEC_KEYS ? 'JOBLEDGER_CODEC_KEYS set (encrypts)' : 'JOBLEDGER_CODEC_KEYS unset (clear text)'}`;
  const listed = await connection.workflowService.listWorkflowExecutions({ namespace, query: 'ExecutionStatus="Running"', pageSize: BLOCKED_SCAN_LIMIT });
  const ids = (listed.executions ?? []).flatMap((e) => (e.execution?.workflowId ? [e.execution.workflowId] : []));
  const blocked: [string, JobBlock][] = [];
  for (const workflowId of ids) {
    const described = await connection.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId } });
    const running = described.workflowExecutionInfo?.status === temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;
    const block = await pendingTaskBlock(client, workflowId, running, described.pendingWorkflowTask?.attempt ?? 0);
    if (block) blocked.push([workflowId, block]);
  }
  if (blocked.length === 0) return { check: 'blocked jobs', status: 'pass', detail: `none of ${ids.length} running job(s) is blocked (${encryption})` };
  const decoding = blocked.filter(([, b]) => b.cause === 'decoding');
  const shown = blocked.slice(0, 3).map(([id, b]) => `${id} (${b.errorClass})`).join(', ');
  const fix = (decoding[0] ?? blocked[0]!)[1];
  return {
    check: 'blocked jobs',
    status: 'fail',
    detail:
      `${blocked.length} of ${ids.length} running job(s) blocked, ${decoding.length} by a payload the worker cannot decode: ${shown}${blocked.length > 3 ? ', ...' : ''}` +
      ` (${encryption}) — ${fix.setting ? `${fix.setting}: ` : ''}${fix.fix}; jobledger status <jobId> shows each`,
  };
}

/** The codec server: reachable and answering `/decode` with the configured token. Skipped when not configured. */
export async function codecCheck(config: Config): Promise<CheckResult> {
  const url = config.JOBLEDGER_CODEC_URL;
  if (url === undefined) return { check: 'codec', status: 'skip', detail: 'not configured (JOBLEDGER_CODEC_URL unset)' };
  const endpoint = `${url.replace(/\/+$/, '')}/decode`;
  try {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(config.JOBLEDGER_CODEC_TOKEN !== undefined && { Authorization: `Bearer ${config.JOBLEDGER_CODEC_TOKEN}` }) },
      body: JSON.stringify({ payloads: [] }),
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    });
    await response.body?.cancel();
    const who = config.JOBLEDGER_CODEC_TOKEN !== undefined ? 'JOBLEDGER_CODEC_TOKEN' : 'no token (JOBLEDGER_CODEC_TOKEN unset)';
    if (response.status === 200) return { check: 'codec', status: 'pass', detail: `${endpoint} answers /decode with ${who}` };
    if (response.status === 401 || response.status === 403) return { check: 'codec', status: 'fail', detail: `${endpoint} refused ${who} (HTTP ${response.status})` };
    return { check: 'codec', status: 'fail', detail: `${endpoint} answered HTTP ${response.status}` };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : messageOf(err);
    const problem = /ECONNREFUSED/.test(cause) ? 'refused' : err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${CHECK_TIMEOUT_MS / 1000} s` : cause;
    return { check: 'codec', status: 'fail', detail: `${endpoint} ${problem}` };
  }
}

/**
 * The ledger (JOBLEDGER_LEDGER_URL, else the SQLite file): opened and its health check run. Both backends apply
 * pending migrations before their first operation, so a passing health check means the schema is current.
 */
export async function ledgerCheck(config: Config): Promise<CheckResult> {
  const target = ledgerTarget(config);
  const where = redactUrl(target);
  try {
    const ledger = openLedger(target);
    try {
      await within(CHECK_TIMEOUT_MS, ledger.checkHealth());
    } finally {
      await ledger.close();
    }
    return { check: 'ledger', status: 'pass', detail: `${where}: opened, migrations current, health check passed` };
  } catch (err) {
    return { check: 'ledger', status: 'fail', detail: `${where}: ${messageOf(err)}` };
  }
}

/** `host:port` (IPv6 in brackets) as its parts; undefined when it has no port. */
export function splitAddress(address: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address.trim());
  return match ? { host: match[1]!, port: Number(match[2]) } : undefined;
}

/** Opens and closes a TCP connection to the address: the problem (`refused`, `unknown host`, no answer), or undefined when it connects. */
export function probeTcp(address: string, timeoutMs = CHECK_TIMEOUT_MS): Promise<string | undefined> {
  const parts = splitAddress(address);
  if (parts === undefined) return Promise.resolve('is not host:port');
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: parts.host, port: parts.port });
    const done = (problem: string | undefined) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000} s`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('refused');
      else if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') done(`unknown host ${parts.host}`);
      else done(err.message);
    });
  });
}

/** The checks that need Temporal, each skipped when there is no connection. */
async function temporalChecks(config: Config, fix: boolean): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const address = config.TEMPORAL_ADDRESS;
  const skipped = (check: string): CheckResult => ({ check, status: 'skip', detail: 'not checked: no connection' });
  const unreachable = await probeTcp(address);
  if (unreachable !== undefined) {
    return [{ check: 'connect', status: 'fail', detail: `${address} ${unreachable}` }, skipped('namespace'), skipped('search attributes'), skipped('worker'), skipped('blocked jobs')];
  }
  let connection: Connection;
  try {
    connection = await within(CHECK_TIMEOUT_MS, Connection.connect({ ...connectionOptionsFrom(config), connectTimeout: CHECK_TIMEOUT_MS }));
  } catch (err) {
    // TCP connected, gRPC did not: with TLS on, most often a server that does not serve TLS (or another CA/name).
    const problem = describeConnectError(err);
    const hint = usesTls(config) && !problem.startsWith('TLS') ? ' — TLS is on: does the server serve TLS with this CA and server name?' : '';
    return [{ check: 'connect', status: 'fail', detail: `${address} ${problem}${hint}` }, skipped('namespace'), skipped('search attributes'), skipped('worker'), skipped('blocked jobs')];
  }
  try {
    try {
      const info = await within(CHECK_TIMEOUT_MS, connection.workflowService.getSystemInfo({}));
      results.push({ check: 'connect', status: 'pass', detail: `${address}${info.serverVersion ? ` (server ${info.serverVersion})` : ''}` });
    } catch (err) {
      results.push({ check: 'connect', status: 'fail', detail: `${address} ${describeConnectError(err)}` });
      return results;
    }
    const namespace = config.TEMPORAL_NAMESPACE;
    try {
      const described = await within(CHECK_TIMEOUT_MS, connection.workflowService.describeNamespace({ namespace }));
      const days = described.config?.workflowExecutionRetentionTtl?.seconds;
      results.push({ check: 'namespace', status: 'pass', detail: `${namespace}${days !== undefined && days !== null ? ` (retention ${Number(days) / 86_400} days)` : ''}` });
    } catch (err) {
      const notFound = /not ?found/i.test(messageOf(err));
      results.push({ check: 'namespace', status: 'fail', detail: notFound ? `namespace ${namespace} not found on ${address}` : `namespace ${namespace}: ${messageOf(err)}` });
      return results;
    }
    try {
      results.push(...(await searchAttributeChecks(connection, namespace, fix)));
    } catch (err) {
      results.push({ check: 'search attributes', status: 'fail', detail: `cannot ${fix ? 'register' : 'list'} search attributes: ${messageOf(err)}` });
    }
    try {
      results.push(await workerCheck(connection, namespace, config.JOBLEDGER_TASK_QUEUE));
    } catch (err) {
      results.push({ check: 'worker', status: 'fail', detail: `cannot describe task queue ${config.JOBLEDGER_TASK_QUEUE}: ${messageOf(err)}` });
    }
    try {
      results.push(await within(CHECK_TIMEOUT_MS, blockedJobsCheck(connection, config)));
    } catch (err) {
      results.push({ check: 'blocked jobs', status: 'fail', detail: `cannot look for blocked jobs: ${messageOf(err)}` });
    }
    return results;
  } finally {
    await connection.close();
  }
}

/** Every check, in order, for this environment. A ConfigError becomes `tls` and `config` failures (and the caller exits 2). */
export async function runDoctor(env: NodeJS.ProcessEnv, options: { fix: boolean }): Promise<{ results: CheckResult[]; invalidConfig: boolean }> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const results = err.issues.map((issue): CheckResult => {
      const variable = issue.path.join('.');
      return { check: variable.startsWith('TEMPORAL_TLS') ? 'tls' : 'config', status: 'fail', detail: `${variable}: ${issue.message}` };
    });
    return { results, invalidConfig: true };
  }
  const results: CheckResult[] = [{ check: 'config', status: 'pass', detail: `${config.TEMPORAL_ADDRESS}, namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.JOBLEDGER_TASK_QUEUE}${config.JOBLEDGER_CONFIG_FILE ? `, file ${config.JOBLEDGER_CONFIG_FILE}` : ''}` }];
  try {
    results.push(tlsCheck(config));
    results.push(...(await temporalChecks(config, options.fix)));
  } catch (err) {
    // Connection options refused (a TLS file gone since it was checked): a configuration problem.
    if (!(err instanceof ConfigError)) throw err;
    results.push(...err.issues.map((issue): CheckResult => ({ check: 'tls', status: 'fail', detail: `${issue.path.join('.')}: ${issue.message}` })));
    return { results, invalidConfig: true };
  }
  results.push(await codecCheck(config));
  results.push(await ledgerCheck(config));
  return { results, invalidConfig: false };
}

const LABEL = { pass: 'pass', fail: 'FAIL', skip: 'skip' } as const;

/** One line per check: `pass connect: 127.0.0.1:7233 (server 1.27.1)`. */
export function formatResults(results: readonly CheckResult[]): string {
  return results.map((r) => `${LABEL[r.status]} ${r.check}: ${r.detail}`).join('\n');
}

export const doctorCommand: Command = {
  name: 'doctor',
  args: '[--fix] [--json]',
  summary: 'check the deployment: connection, namespace, search attributes, codec, ledger, a polling worker, blocked jobs (--fix registers missing search attributes)',
  async run(argv: string[], output: Output): Promise<number> {
    const { values } = parseCommand(argv, { fix: { type: 'boolean' } }, []);
    const { results, invalidConfig } = await runDoctor(process.env, { fix: values.fix === true });
    const ok = !invalidConfig && results.every((r) => r.status !== 'fail');
    output.out(output.json ? JSON.stringify({ ok, checks: results }) : formatResults(results));
    if (invalidConfig) return ExitCode.invalid;
    return ok ? ExitCode.ok : ExitCode.failure;
  },
};
