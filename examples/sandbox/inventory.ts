/**
 * Inventory provider operations: `POST /reservations` (effect `reserve`),
 * `POST /releases` (effect `release`), `POST /shipments` (effect `ship`: the
 * warehouse is told to pick and ship a reservation) and `POST /shipment-cancellations`
 * (effect `unship`: that request is withdrawn). SKUs starting with `OUT-` are out of
 * stock: a permanent business failure (409 out_of_stock) with no effect.
 */
import { z } from 'zod';
import { BusinessError, defineOperation, type Operation } from './provider';

const reservationSchema = z.strictObject({
  orderId: z.string().min(1).max(200),
  items: z
    .array(z.strictObject({ sku: z.string().min(1).max(100), qty: z.number().int().positive() }))
    .min(1),
});

const releaseSchema = z.strictObject({
  reservationId: z.string().min(1).max(200),
});

export const createReservation = defineOperation({
  path: '/reservations',
  kind: 'reserve',
  schema: reservationSchema,
  execute(input, ctx) {
    const missing = input.items.filter((i) => i.sku.startsWith('OUT-')).map((i) => i.sku);
    if (missing.length > 0) {
      throw new BusinessError(409, 'out_of_stock', `Out of stock: ${missing.join(', ')}`);
    }
    const reservation = { id: ctx.id('res_'), orderId: input.orderId, items: input.items, status: 'reserved' };
    return { body: reservation, effect: { orderId: input.orderId, data: reservation } };
  },
});

export const createRelease = defineOperation({
  path: '/releases',
  kind: 'release',
  schema: releaseSchema,
  execute(input, ctx) {
    const reservation = ctx.findEffect('reserve', input.reservationId);
    if (!reservation) throw new BusinessError(404, 'not_found', `No such reservation: ${input.reservationId}`);
    const already = ctx
      .listEffects({ kind: 'release', orderId: reservation.orderId ?? undefined })
      .some((r) => r.data.reservationId === input.reservationId);
    if (already) {
      throw new BusinessError(409, 'already_released', `Reservation ${input.reservationId} is already released`);
    }
    const release = {
      id: ctx.id('rel_'),
      reservationId: input.reservationId,
      orderId: reservation.orderId,
      status: 'released',
    };
    return { body: release, effect: { orderId: reservation.orderId, data: release } };
  },
});

const shipmentSchema = z.strictObject({
  orderId: z.string().min(1).max(200),
  reservationId: z.string().min(1).max(200),
});

export const createShipment = defineOperation({
  path: '/shipments',
  kind: 'ship',
  schema: shipmentSchema,
  execute(input, ctx) {
    if (!ctx.findEffect('reserve', input.reservationId)) throw new BusinessError(404, 'not_found', `No such reservation: ${input.reservationId}`);
    const shipment = { id: ctx.id('shp_'), orderId: input.orderId, reservationId: input.reservationId, status: 'requested' };
    return { body: shipment, effect: { orderId: input.orderId, data: shipment } };
  },
});

const shipmentCancellationSchema = z.strictObject({
  shipmentId: z.string().min(1).max(200),
});

export const cancelShipment = defineOperation({
  path: '/shipment-cancellations',
  kind: 'unship',
  schema: shipmentCancellationSchema,
  execute(input, ctx) {
    const shipment = ctx.findEffect('ship', input.shipmentId);
    if (!shipment) throw new BusinessError(404, 'not_found', `No such shipment: ${input.shipmentId}`);
    const cancellation = { id: ctx.id('usp_'), shipmentId: input.shipmentId, orderId: shipment.orderId, status: 'cancelled' };
    return { body: cancellation, effect: { orderId: shipment.orderId, data: cancellation } };
  },
});

export const inventoryOperations: Operation[] = [createReservation, createRelease, createShipment, cancelShipment];
