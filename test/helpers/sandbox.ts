/** Starts the sandbox providers for one test file and stops them afterwards. */
import { startSandbox, type Sandbox } from '../../examples/sandbox';
import { tempDir } from './servers';

export async function withSandbox(): Promise<Sandbox> {
  return startSandbox({ dir: tempDir('jobledger-sandbox-') });
}

export function effectCount(sandbox: Sandbox, provider: 'payments' | 'inventory' | 'email', kind: string, orderId: string): number {
  return sandbox[provider].listEffects({ orderId, kind }).length;
}
