/**
 * Where `jobledger reconcile` counts the example jobs' downstream effects (jobs/effects.ts): the order jobs'
 * charges, reservations and receipts at the sandbox providers among the configured services
 * (`JOBLEDGER_SERVICE_PAYMENTS_URL`, `..._INVENTORY_URL`, `..._EMAIL_URL`). The other example jobs call no
 * provider.
 */
import type { EffectSources } from '../../jobs/effects';
import { sandboxEffects } from '../sandbox/effects';
import { orderFulfillJob, orderSequentialJob } from './order';

export const effects: EffectSources = (services) => [orderFulfillJob, orderSequentialJob].flatMap((job) => sandboxEffects(services, job.type));
