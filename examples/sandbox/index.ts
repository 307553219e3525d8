/**
 * Starts the three sandbox providers (payments, inventory, email) together,
 * each on its own ephemeral 127.0.0.1 port with its own SQLite file in `dir`.
 * This is what tests, the demo and `examples/sandbox/main.ts` use.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { emailOperations } from './email';
import { inventoryOperations } from './inventory';
import { paymentOperations } from './payments';
import { startProvider, type FaultConfig, type Operation, type ProviderHandle } from './provider';

export type ProviderName = 'payments' | 'inventory' | 'email';

export interface SandboxOptions {
  /** Directory for the SQLite files (`payments.db`, `inventory.db`, `email.db`); created if missing. */
  dir: string;
  /** Initial faults per provider. Default none. */
  faults?: Partial<Record<ProviderName, FaultConfig>>;
  /** Fault PRNG seed, shared by all three providers. Default 42. */
  seed?: number;
}

export interface Sandbox {
  payments: ProviderHandle;
  inventory: ProviderHandle;
  email: ProviderHandle;
  urls: Record<ProviderName, string>;
  /** Stops all three providers. */
  stop(): Promise<void>;
}

const OPERATIONS: Record<ProviderName, Operation[]> = {
  payments: paymentOperations,
  inventory: inventoryOperations,
  email: emailOperations,
};

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  mkdirSync(options.dir, { recursive: true });
  const started: ProviderHandle[] = [];
  const start = async (name: ProviderName) => {
    const handle = await startProvider({
      name,
      dbPath: path.join(options.dir, `${name}.db`),
      operations: OPERATIONS[name],
      faults: options.faults?.[name],
      seed: options.seed,
    });
    started.push(handle);
    return handle;
  };
  try {
    const payments = await start('payments');
    const inventory = await start('inventory');
    const email = await start('email');
    return {
      payments,
      inventory,
      email,
      urls: { payments: payments.url, inventory: inventory.url, email: email.url },
      stop: async () => {
        await Promise.all([payments.stop(), inventory.stop(), email.stop()]);
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((h) => h.stop()));
    throw err;
  }
}

export { startProvider, FaultConfigError, BusinessError, faultConfigSchema } from './provider';
export type { FaultConfig, ProviderHandle, ProviderStats, EffectRecord, CallRecord } from './provider';
export { callProvider, ProviderHttpError, ProviderUnavailableError } from './client';
export type { CallProviderOptions } from './client';
