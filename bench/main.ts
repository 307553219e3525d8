/**
 * Benchmark entry point: `npm run bench -- <name>` runs one named bench,
 * `npm run bench` runs them all in order. Each bench prints a summary and
 * writes its JSON figures under artifacts/bench/.
 */
import { runLedgerBench } from './ledger';

const BENCHES: Record<string, () => Promise<void>> = {
  ledger: () => runLedgerBench(),
};

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown bench: ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
    process.exit(2);
  }
  for (const name of names.length > 0 ? names : Object.keys(BENCHES)) await BENCHES[name]!();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
