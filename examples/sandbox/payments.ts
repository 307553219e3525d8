/**
 * Payments provider operations: `POST /charges` (effect `charge`) and
 * `POST /refunds` (effect `refund`). Ids are derived from the Idempotency-Key,
 * so a replayed or retried request always names the same charge or refund.
 */
import { z } from 'zod';
import { BusinessError, defineOperation, type Operation } from './provider';

const chargeSchema = z.strictObject({
  orderId: z.string().min(1).max(200),
  customerId: z.string().min(1).max(200),
  /** Amount in minor units (e.g. cents). */
  amount: z.number().int().positive(),
  currency: z.string().regex(/^[A-Za-z]{3}$/, 'currency must be 3 letters'),
});

const refundSchema = z.strictObject({
  chargeId: z.string().min(1).max(200),
  amount: z.number().int().positive(),
});

export const createCharge = defineOperation({
  path: '/charges',
  kind: 'charge',
  schema: chargeSchema,
  execute(input, ctx) {
    const charge = {
      id: ctx.id('ch_'),
      orderId: input.orderId,
      amount: input.amount,
      currency: input.currency,
      status: 'succeeded',
    };
    return { body: charge, effect: { orderId: input.orderId, data: { ...charge, customerId: input.customerId } } };
  },
});

export const createRefund = defineOperation({
  path: '/refunds',
  kind: 'refund',
  schema: refundSchema,
  execute(input, ctx) {
    const charge = ctx.findEffect('charge', input.chargeId);
    if (!charge) throw new BusinessError(404, 'not_found', `No such charge: ${input.chargeId}`);
    const charged = Number(charge.data.amount);
    const refunded = ctx
      .listEffects({ kind: 'refund', orderId: charge.orderId ?? undefined })
      .filter((r) => r.data.chargeId === input.chargeId)
      .reduce((sum, r) => sum + Number(r.data.amount), 0);
    if (refunded + input.amount > charged) {
      throw new BusinessError(
        400,
        'refund_exceeds_charge',
        `Refund of ${input.amount} exceeds the ${charged - refunded} left on ${input.chargeId}`,
      );
    }
    const refund = { id: ctx.id('re_'), chargeId: input.chargeId, amount: input.amount, status: 'succeeded' };
    return { body: refund, effect: { orderId: charge.orderId, data: refund } };
  },
});

export const paymentOperations: Operation[] = [createCharge, createRefund];
