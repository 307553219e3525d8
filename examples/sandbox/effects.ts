/**
 * The sandbox providers as effect sources of the order jobs, for `jobledger reconcile` (jobs/effects.ts):
 * each Completed order holds one net charge (charges not fully refunded), one net reservation (reservations
 * not released) and one receipt email. Warehouse shipments are not counted: one is requested alongside the
 * receipt, so an order compensated after it still holds it. The providers list what they applied on
 * `GET /_admin/effects`.
 */
import { z } from 'zod';
import type { EffectCount, EffectScope, EffectSource } from '../../jobs/effects';

/** The default job type of `sandboxEffects`. */
export const ORDER_TYPE = 'order.fulfill';

/** The parts of a provider's effect record (provider.ts `EffectRecord`) read here. */
const EffectRecord = z.object({ idempotencyKey: z.string(), appliedAt: z.string(), data: z.record(z.string(), z.unknown()) });
type EffectRecord = z.infer<typeof EffectRecord>;

async function listEffects(baseUrl: string, kind: string): Promise<EffectRecord[]> {
  const url = `${baseUrl.replace(/\/$/, '')}/_admin/effects?kind=${encodeURIComponent(kind)}`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return z.array(EffectRecord).parse(await response.json());
}

/** An effect kind that another kind reverses (a charge and its refunds), as `netCount` counts it. */
interface Reversible {
  kind: string;
  /** Plural, for the report: `charges`. */
  plural: string;
  reversalKind: string;
  /** What an undone one is, for the report: `fully refunded`. */
  undoneAs: string;
  undone: (effect: EffectRecord, reversals: EffectRecord[]) => boolean;
}

/** The effects of one kind in scope, less those their reversals undid. */
async function netCount(baseUrl: string, scope: EffectScope, effect: Reversible): Promise<EffectCount> {
  const [applied, reversals] = await Promise.all([listEffects(baseUrl, effect.kind), listEffects(baseUrl, effect.reversalKind)]);
  const counted = applied.filter((record) => scope.includes(record));
  const undone = counted.filter((record) => effect.undone(record, reversals)).length;
  return {
    kind: effect.kind,
    net: counted.length - undone,
    detail: `${counted.length} ${effect.plural}, ${undone} ${effect.undoneAs}`,
    keys: counted.map((record) => record.idempotencyKey),
  };
}

/** A charge is undone when its refunds add up to its amount. */
function fullyRefunded(charge: EffectRecord, refunds: EffectRecord[]): boolean {
  const refunded = refunds.filter((r) => r.data.chargeId === charge.data.id).reduce((sum, r) => sum + Number(r.data.amount), 0);
  return refunded >= Number(charge.data.amount);
}

/** A reservation is undone when it was released. */
function released(reservation: EffectRecord, releases: EffectRecord[]): boolean {
  return releases.some((r) => r.data.reservationId === reservation.data.id);
}

/**
 * The effect sources of an order job type (`order.fulfill` unless named) at the providers among `urls`, by
 * provider name (the sandbox's `urls`, or the services configured as `JOBLEDGER_SERVICE_<NAME>_URL`); a
 * provider without a URL is left out.
 */
export function sandboxEffects(urls: Readonly<Record<string, string>>, jobType = ORDER_TYPE): EffectSource[] {
  const sources: EffectSource[] = [];
  const { payments, inventory, email } = urls;
  if (payments) {
    sources.push({
      jobType,
      name: 'payments',
      count: async (scope) => [
        await netCount(payments, scope, { kind: 'charge', plural: 'charges', reversalKind: 'refund', undoneAs: 'fully refunded', undone: fullyRefunded }),
      ],
    });
  }
  if (inventory) {
    sources.push({
      jobType,
      name: 'inventory',
      count: async (scope) => [
        await netCount(inventory, scope, { kind: 'reserve', plural: 'reservations', reversalKind: 'release', undoneAs: 'released', undone: released }),
      ],
    });
  }
  if (email) {
    sources.push({
      jobType,
      name: 'email',
      count: async (scope) => {
        const sent = (await listEffects(email, 'email')).filter((effect) => scope.includes(effect));
        return [{ kind: 'email', net: sent.length, detail: `${sent.length} sent`, keys: sent.map((effect) => effect.idempotencyKey) }];
      },
    });
  }
  return sources;
}
