/**
 * Runnable sandbox: `tsx examples/sandbox/main.ts --dir D [--port-file F]`. Starts the
 * three providers, prints one JSON line `{"payments":url,"inventory":url,"email":url}`
 * to stdout, writes the same JSON to the port file (atomically) if given, and
 * stops cleanly (removing the port file) on SIGTERM or SIGINT.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSandbox } from './index';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, 'port-file': { type: 'string' } },
  });
  if (!values.dir) {
    process.stderr.write('usage: tsx examples/sandbox/main.ts --dir DIR [--port-file FILE]\n');
    process.exit(2);
  }
  const portFile = values['port-file'];
  const sandbox = await startSandbox({ dir: values.dir });
  const line = JSON.stringify(sandbox.urls);
  if (portFile) {
    writeFileSync(`${portFile}.tmp`, `${line}\n`);
    renameSync(`${portFile}.tmp`, portFile);
  }
  process.stdout.write(`${line}\n`);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await sandbox.stop();
    if (portFile) rmSync(portFile, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`sandbox failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
