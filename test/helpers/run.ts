/** Runs a project command (CLI, shell script) as a child process and captures its output and exit code. */
import { spawn } from 'node:child_process';
import { ROOT } from './servers';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command`; `stdin`, when given, is written to its standard input (default: empty). */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000, stdin?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => {}); // the command may exit before it reads everything (EPIPE)
    child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** `jobledger <args>` through tsx, as `npm run -s jobledger --` runs it. */
export function cli(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', 'client/cli.ts', ...args], { JOBLEDGER_JOBS_MODULE: 'examples/jobs/index.ts', ...env }, undefined, stdin);
}

/** Runs a TypeScript snippet in a separate node process (through tsx) and parses the JSON it prints. */
export async function runScriptJson<T>(script: string, args: string[]): Promise<T> {
  const r = await run(process.execPath, ['--import', 'tsx', '-e', script, ...args]);
  if (r.code !== 0) throw new Error(`child exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
