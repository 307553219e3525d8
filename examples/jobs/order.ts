/**
 * The reference order jobs, built from one set of typed steps.
 *
 * `order.fulfill` is workflow code: it reserves the inventory and checks for fraud at the same time,
 * waits for a manager's approval above APPROVAL_THRESHOLD, charges the payment, records the accounting
 * entry, then sends the receipt and notifies the warehouse at the same time. `order.sequential` is the
 * list form of the same business: reserve, charge, send the receipt, one after the other.
 *
 * Each downstream call carries the step's ledger key as its `Idempotency-Key`, so a crash between the
 * provider applying the effect and the ledger recording it still leaves exactly one effect. The accounting
 * entry is a local write committed in the same transaction as the step's ledger completion. Inventory and
 * payment have compensations with their own keys (`release-inventory`, `refund-payment`), and so does the
 * warehouse notice (`cancel-shipment`), run newest-first
 * when a later step fails for good, a fraud check refuses the order, or the approval is rejected.
 */
import { z } from 'zod';
import { ApplicationFailure } from '@temporalio/common';
import { defineStep, type StepContext } from '../../activities/step';
import { defineJob } from '../../jobs/define';
import { callProvider } from '../sandbox/client';

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

/** Orders above this amount (minor units) wait for a manager's approval before the charge. */
export const APPROVAL_THRESHOLD = 100_000;
/** How long an order waits for that approval before it is compensated. */
export const APPROVAL_TIMEOUT = '1h';

export interface Reservation {
  id: string;
}
export interface Charge {
  id: string;
  amount: number;
  currency: string;
}
export interface AccountingEntry {
  entryKey: string;
  orderId: string;
  chargeId: string;
  amount: number;
  currency: string;
}

function call<T>(ctx: StepContext<unknown>, provider: 'payments' | 'inventory' | 'email', path: string, body: unknown): Promise<T> {
  return callProvider<T>(ctx.service(provider), path, body, { idempotencyKey: ctx.stepKey, provider, timeoutMs: 5_000 });
}

export const reserveInventory = defineStep({
  name: 'reserve-inventory',
  dependency: 'inventory',
  reversible: true,
  startToCloseTimeout: '10s',
  run: (ctx: StepContext<OrderInput>) => call<Reservation>(ctx, 'inventory', '/reservations', { orderId: ctx.input.orderId, items: ctx.input.items }),
  compensate: {
    name: 'release-inventory',
    dependency: 'inventory',
    run: (ctx) => call(ctx, 'inventory', '/releases', { reservationId: ctx.result.id }),
  },
});

/** Customers whose id starts with this are refused by the fraud check (a permanent BusinessRule failure). */
export const FLAGGED_CUSTOMER_PREFIX = 'flagged-';

export const checkFraud = defineStep({
  name: 'check-fraud',
  startToCloseTimeout: '10s',
  run: async (ctx: StepContext<OrderInput>) => {
    if (ctx.input.customer.id.startsWith(FLAGGED_CUSTOMER_PREFIX)) {
      throw ApplicationFailure.nonRetryable(`customer ${ctx.input.customer.id} is flagged for fraud review`, 'BusinessRule');
    }
    return { cleared: true, score: Math.min(99, Math.round(ctx.input.amount / 10_000)) };
  },
});

export const chargePayment = defineStep({
  name: 'charge-payment',
  dependency: 'payments',
  reversible: true,
  // A lost worker's lease ends with its attempt: the retry takes the step over after at most 10 s.
  startToCloseTimeout: '10s',
  run: (ctx: StepContext<OrderInput>) =>
    call<Charge>(ctx, 'payments', '/charges', { orderId: ctx.input.orderId, customerId: ctx.input.customer.id, amount: ctx.input.amount, currency: ctx.input.currency }),
  compensate: {
    name: 'refund-payment',
    dependency: 'payments',
    run: (ctx) => call(ctx, 'payments', '/refunds', { chargeId: ctx.result.id, amount: ctx.result.amount }),
  },
});

export const sendReceipt = defineStep({
  name: 'send-receipt',
  dependency: 'email',
  startToCloseTimeout: '10s',
  skippable: true,
  run: (ctx: StepContext<OrderInput>) => call<{ id: string }>(ctx, 'email', '/emails', { to: ctx.input.customer.email, template: 'receipt', orderId: ctx.input.orderId }),
});

export const notifyWarehouse = defineStep({
  name: 'notify-warehouse',
  dependency: 'inventory',
  reversible: true,
  startToCloseTimeout: '10s',
  skippable: true,
  run: (ctx: StepContext<{ orderId: string; reservation: Reservation }>) =>
    call<{ id: string }>(ctx, 'inventory', '/shipments', { orderId: ctx.input.orderId, reservationId: ctx.input.reservation.id }),
  // A compensated order must not ship: the warehouse's request is withdrawn.
  compensate: {
    name: 'cancel-shipment',
    dependency: 'inventory',
    run: (ctx) => call(ctx, 'inventory', '/shipment-cancellations', { shipmentId: ctx.result.id }),
  },
});

export const recordAccounting = defineStep({
  name: 'record-accounting',
  run: async (ctx: StepContext<{ orderId: string; charge: Charge }>): Promise<AccountingEntry> => {
    const { charge } = ctx.input;
    return { entryKey: ctx.stepKey, orderId: ctx.input.orderId, chargeId: charge.id, amount: charge.amount, currency: charge.currency };
  },
  commit: async (sql, entry) => {
    await sql.run(
      `CREATE TABLE IF NOT EXISTS accounting_entries (
         entry_key TEXT PRIMARY KEY, order_id TEXT NOT NULL, charge_id TEXT NOT NULL,
         amount INTEGER NOT NULL, currency TEXT NOT NULL)`,
      [],
    );
    await sql.run('INSERT INTO accounting_entries (entry_key, order_id, charge_id, amount, currency) VALUES (?, ?, ?, ?, ?)', [
      entry.entryKey,
      entry.orderId,
      entry.chargeId,
      entry.amount,
      entry.currency,
    ]);
  },
});

export interface OrderResult {
  orderId: string;
  chargeId: string;
  approvedBy: string | null;
}

export const orderFulfillJob = defineJob({
  type: 'order.fulfill',
  version: 2,
  input: OrderInput,
  key: (input) => input.orderId,
  steps: [reserveInventory, checkFraud, chargePayment, recordAccounting, sendReceipt, notifyWarehouse],
  workflow: async (job, order): Promise<OrderResult> => {
    const [reservation] = await Promise.all([job.step(reserveInventory, order), job.step(checkFraud, order)]);
    const approval = order.amount > APPROVAL_THRESHOLD ? await job.approval('manager-approval', { timeout: APPROVAL_TIMEOUT }) : null;
    const charge = await job.step(chargePayment, order);
    await job.step(recordAccounting, { orderId: order.orderId, charge });
    await Promise.all([job.step(sendReceipt, order), job.step(notifyWarehouse, { orderId: order.orderId, reservation })]);
    return { orderId: order.orderId, chargeId: charge.id, approvedBy: approval?.operator ?? null };
  },
});

export const orderSequentialJob = defineJob({
  type: 'order.sequential',
  version: 1,
  input: OrderInput,
  key: (input) => input.orderId,
  steps: [reserveInventory, chargePayment, sendReceipt],
});
