/**
 * The scenario registry: every scenario `npm run chaos` knows, in the order a full run takes them.
 * To add one (C3 downstream outage, C5 hostile inputs, C6 ledger faults, C7 child failures...): write
 * `chaos/scenarios/<id>-<name>.ts` exporting a `ChaosScenario` (see chaos/scenario.ts and
 * chaos/README.md), import it here and add it to SCENARIOS. The runner then gives it a fresh
 * environment, applies the shared invariants to the job ids it reports as accepted, and runs its own
 * `checks`; the smoke test can run it with its `smoke` sizes.
 */
import type { ChaosScenario } from './scenario';
import { c1WorkerKills } from './scenarios/c1-worker-kills';
import { c2ServerRestart } from './scenarios/c2-server-restart';
import { c3DownstreamOutage } from './scenarios/c3-downstream-outage';
import { c4DuplicateFlood } from './scenarios/c4-duplicate-flood';
import { c5HostileInputs } from './scenarios/c5-hostile-inputs';
import { c6LedgerFaults } from './scenarios/c6-ledger-faults';
import { c7ChildFailures } from './scenarios/c7-child-failures';
import { c8SeparateHosts } from './scenarios/c8-separate-hosts';

export const SCENARIOS: readonly ChaosScenario[] = [c1WorkerKills, c2ServerRestart, c3DownstreamOutage, c4DuplicateFlood, c5HostileInputs, c6LedgerFaults, c7ChildFailures, c8SeparateHosts];

/** The scenario with this id (case-insensitive); throws naming the known ids. */
export function getScenario(id: string): ChaosScenario {
  const found = SCENARIOS.find((s) => s.id.toLowerCase() === id.toLowerCase());
  if (!found) throw new Error(`unknown scenario '${id}' (known: ${SCENARIOS.map((s) => s.id).join(', ')})`);
  return found;
}
