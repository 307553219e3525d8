/**
 * Email provider operation: `POST /emails` (effect `email`). The recipient
 * address is PII: it is never echoed in a response, and the effect stores only
 * a short hash of it (`toHash`) so tests can still check who was emailed.
 */
import { z } from 'zod';
import { defineOperation, sha256, type Operation } from './provider';

const emailSchema = z.strictObject({
  to: z.email(),
  template: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'template must be a simple name'),
  orderId: z.string().min(1).max(200),
});

/** The hash stored instead of the address: first 16 hex of sha256(lower-cased address). */
export function recipientHash(address: string): string {
  return sha256(address.trim().toLowerCase()).slice(0, 16);
}

export const sendEmail = defineOperation({
  path: '/emails',
  kind: 'email',
  schema: emailSchema,
  execute(input, ctx) {
    const email = { id: ctx.id('em_'), orderId: input.orderId, template: input.template, status: 'sent' };
    return { body: email, effect: { orderId: input.orderId, data: { ...email, toHash: recipientHash(input.to) } } };
  },
});

export const emailOperations: Operation[] = [sendEmail];
