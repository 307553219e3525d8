/**
 * `jobledger schedule ...`: the recurring jobs' commands, entries of the CLI's one command table
 * (client/cli.ts). Bad input (a schedule id, a date, an operator identity) is an `InvalidScheduleRequestError`
 * or a usage error: exit 2, nothing sent.
 */
import { loadJobApp } from '../jobs/app';
import { JobRegistry } from '../jobs/registry';
import { withJobClient } from './connect';
import { checkScheduleId, checkScheduleOperator, JobSchedules, type ScheduleView } from './schedules';
import { ExitCode, parseCommand, print, required, requireOptions, UsageError, type Command, type Output } from '../core/commands';

async function withSchedules(fn: (schedules: JobSchedules) => Promise<number>): Promise<number> {
  return withJobClient((connected, config) => fn(new JobSchedules({ client: connected.client, taskQueue: config.JOBLEDGER_TASK_QUEUE })));
}

function formatSchedules(views: readonly ScheduleView[]): string {
  if (views.length === 0) return '(no schedules)';
  return views
    .map((v) => {
      const last = v.recentRuns.at(-1);
      return [
        `${v.scheduleId}\t${v.jobType ?? '-'}\t${v.spec}\t${v.paused ? 'paused' : 'active'}${v.note ? ` (${v.note})` : ''}`,
        `  next: ${v.nextRuns[0] ?? '-'}`,
        `  last: ${last ? `${last.jobId} (started ${last.startedAt})` : '-'}`,
      ].join('\n');
    })
    .join('\n');
}

function date(value: string | undefined, flag: string): Date {
  const text = required(value, flag);
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) throw new UsageError(`--${flag} is not a date: ${text}`);
  return at;
}

const OPERATOR = { operator: { type: 'string' }, reason: { type: 'string' } } as const;

function pauseCommand(how: 'pause' | 'unpause', summary: string): Command {
  return {
    name: `schedule ${how}`,
    args: '<scheduleId> --operator ID --reason TEXT [--json]',
    summary,
    async run(argv: string[], output: Output) {
      const { values, args: [scheduleId] } = parseCommand(argv, OPERATOR, ['<scheduleId>']);
      requireOptions(values, ['operator', 'reason']);
      const who = { operator: values.operator ?? '', reason: values.reason ?? '' };
      // Checked before connecting: bad input exits 2 whether or not Temporal is reachable.
      checkScheduleId(scheduleId);
      checkScheduleOperator(scheduleId, who);
      return withSchedules(async (schedules) => {
        await schedules[how](scheduleId, who);
        print(output, { scheduleId, action: how, operator: who.operator, reason: who.reason }, `${scheduleId}: ${how}d (operator ${who.operator}: ${who.reason})`);
        return ExitCode.ok;
      });
    },
  };
}

export const SCHEDULE_COMMANDS: readonly Command[] = [
  {
    name: 'schedule ensure',
    args: '[--json]',
    summary: 'create or update the Temporal Schedule of every job that declares a schedule',
    async run(argv, output) {
      parseCommand(argv, {}, []);
      return withJobClient(async (connected, config) => {
        const jobs = (await loadJobApp(config.JOBLEDGER_JOBS_MODULE)).jobs;
        const schedules = new JobSchedules({ client: connected.client, taskQueue: config.JOBLEDGER_TASK_QUEUE, definitions: new JobRegistry(jobs) });
        const ensured = await schedules.ensureAll(jobs);
        print(output, ensured, ensured.map((e) => `${e.scheduleId}\t${e.jobType}\t${e.created ? 'created' : 'updated'}`).join('\n') || '(no job declares a schedule)');
        return ExitCode.ok;
      });
    },
  },
  {
    name: 'schedule list',
    args: '[--json]',
    summary: 'the schedules: job type, every/cron, paused or active, next and last run',
    async run(argv, output) {
      parseCommand(argv, {}, []);
      return withSchedules(async (schedules) => {
        const views = await schedules.list();
        print(output, views, formatSchedules(views));
        return ExitCode.ok;
      });
    },
  },
  pauseCommand('pause', 'pause a schedule: no run starts until unpause'),
  pauseCommand('unpause', 'resume a paused schedule'),
  {
    name: 'schedule trigger',
    args: '<scheduleId> [--json]',
    summary: 'start a run now (its slot is the current second)',
    async run(argv, output) {
      const { args: [scheduleId] } = parseCommand(argv, {}, ['<scheduleId>']);
      checkScheduleId(scheduleId);
      return withSchedules(async (schedules) => {
        await schedules.trigger(scheduleId);
        print(output, { scheduleId, action: 'trigger' }, `${scheduleId}: triggered`);
        return ExitCode.ok;
      });
    },
  },
  {
    name: 'schedule backfill',
    args: '<scheduleId> --from T --to T [--json]',
    summary: 'start the runs of the slots from T to T; a slot that already ran does nothing again',
    async run(argv, output) {
      const { values, args: [scheduleId] } = parseCommand(argv, { from: { type: 'string' }, to: { type: 'string' } }, ['<scheduleId>']);
      const from = date(values.from, 'from');
      const to = date(values.to, 'to');
      checkScheduleId(scheduleId);
      if (from.getTime() >= to.getTime()) throw new UsageError('--from must be before --to');
      return withSchedules(async (schedules) => {
        await schedules.backfill(scheduleId, from, to);
        print(output, { scheduleId, action: 'backfill', from: from.toISOString(), to: to.toISOString() }, `${scheduleId}: backfill ${from.toISOString()} .. ${to.toISOString()} sent`);
        return ExitCode.ok;
      });
    },
  },
];
