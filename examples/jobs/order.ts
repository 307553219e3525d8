/**
 * `order.fulfill`, the reference job. It reserves inventory, charges the payment, sends the receipt and
 * records the accounting entry. Each downstream call carries the step's ledger key as its
 * `Idempotency-Key`, so a crash between the provider applying the effect and the ledger recording it
 * still leaves exactly one effect. The accounting entry is a local write committed in the same
 * transaction as the step's ledger completion. Inventory and payment have compensations with their own
 * keys (`release-inventory`, `refund-payment`), run newest-first if a later step fails for good.
 */
import { z } from 'zod';
import { callProvider } from '../sandbox/client';
import { defineJob, type StepContext } from '../../jobs/define';

export const OrderInput = z.strictObject({
  orderId: z.string().min(1).max(64).meta({ pii: false }),
  customer: z.strictObject({
    id: z.string().min(1).max(64).meta({ pii: false }),
    /** 254 characters: the longest address SMTP can carry (RFC 5321). */
    email: z.email().max(254).meta({ pii: true }),
  }),
  items: z
    .array(z.strictObject({ sku: z.string().min(1).max(64).meta({ pii: false }), qty: z.number().int().positive().max(1000).meta({ pii: false }) }))
    .min(1)
    .max(100),
  /** Amount in minor units (cents). */
  amount: z.number().int().positive().meta({ pii: false }),
  currency: z.string().length(3).regex(/^[A-Z]{3}$/).meta({ pii: false }),
});
export type OrderInput = z.infer<typeof OrderInput>;

type Ctx = StepContext<OrderInput>;

function call<T>(ctx: Ctx, provider: 'payments' | 'inventory' | 'email', path: string, body: unknown): Promise<T> {
  return callProvider<T>(ctx.service(provider), path, body, { idempotencyKey: ctx.idempotencyKey, provider, timeoutMs: 5_000 });
}

interface Reservation {
  id: string;
}
interface Charge {
  id: string;
  amount: number;
  currency: string;
}

export const orderFulfillJob = defineJob({
  type: 'order.fulfill',
  version: 1,
  input: OrderInput,
  key: (input) => input.orderId,
  steps: [
    {
      name: 'reserve-inventory',
      dependency: 'inventory',
      reversible: true,
      startToCloseTimeout: '10s',
      run: (ctx) => call<Reservation>(ctx, 'inventory', '/reservations', { orderId: ctx.input.orderId, items: ctx.input.items }),
      compensate: {
        name: 'release-inventory',
        dependency: 'inventory',
        run: (ctx) => call(ctx, 'inventory', '/releases', { reservationId: (ctx.results['reserve-inventory'] as Reservation).id }),
      },
    },
    {
      name: 'charge-payment',
      dependency: 'payments',
      reversible: true,
      // A lost worker's lease ends with its attempt: the retry takes the step over after at most 10 s.
      startToCloseTimeout: '10s',
      run: (ctx) =>
        call<Charge>(ctx, 'payments', '/charges', {
          orderId: ctx.input.orderId,
          customerId: ctx.input.customer.id,
          amount: ctx.input.amount,
          currency: ctx.input.currency,
        }),
      compensate: {
        name: 'refund-payment',
        dependency: 'payments',
        run: (ctx) => {
          const charge = ctx.results['charge-payment'] as Charge;
          return call(ctx, 'payments', '/refunds', { chargeId: charge.id, amount: charge.amount });
        },
      },
    },
    {
      name: 'send-receipt',
      dependency: 'email',
      startToCloseTimeout: '10s',
      run: (ctx) => call(ctx, 'email', '/emails', { to: ctx.input.customer.email, template: 'receipt', orderId: ctx.input.orderId }),
    },
    {
      name: 'record-accounting',
      run: async (ctx) => {
        const charge = ctx.results['charge-payment'] as Charge;
        return { entryKey: ctx.idempotencyKey, orderId: ctx.input.orderId, chargeId: charge.id, amount: charge.amount, currency: charge.currency };
      },
      commit: (sql, result) => {
        const entry = result as { entryKey: string; orderId: string; chargeId: string; amount: number; currency: string };
        sql.run(
          `CREATE TABLE IF NOT EXISTS accounting_entries (
             entry_key TEXT PRIMARY KEY, order_id TEXT NOT NULL, charge_id TEXT NOT NULL,
             amount INTEGER NOT NULL, currency TEXT NOT NULL)`,
          [],
        );
        sql.run('INSERT INTO accounting_entries (entry_key, order_id, charge_id, amount, currency) VALUES (?, ?, ?, ?, ?)', [
          entry.entryKey,
          entry.orderId,
          entry.chargeId,
          entry.amount,
          entry.currency,
        ]);
      },
    },
  ],
});
