/**
 * The workload side of a scenario: `order.fulfill` inputs, and a submitter that sends them through a real
 * JobClient, retrying a failed submission (the same input, so the same job id) until it is acknowledged
 * or its retry budget runs out. Every acknowledged job id is remembered: the invariants are checked
 * against exactly that set. `paced` spreads submissions evenly over a duration with bounded concurrency.
 */
import type { ConnectedJobClient } from '../../client/connect';
import type { OperatorIdentity, SubmitResult } from '../../client/jobs';
import type { OrderInput } from '../../examples/jobs/order';

export const ORDER_TYPE = 'order.fulfill';

/** A valid order (never out of stock, so it can complete). */
export function orderInput(orderId: string): OrderInput {
  return {
    orderId,
    customer: { id: `cus-${orderId}`, email: 'chaos.buyer@example.com' },
    items: [{ sku: 'SKU-CHAOS', qty: 1 }],
    amount: 1999,
    currency: 'EUR',
  };
}

export interface SubmitterOptions {
  /** How long one submission keeps retrying after errors, in ms. Default 90000. */
  retryForMs?: number;
  /** Deadline of each attempt's gRPC calls, in ms. Default 20000. */
  attemptTimeoutMs?: number;
}

export class Submitter {
  /** Acknowledged job ids, with every answer received for them. */
  readonly acknowledged = new Map<string, SubmitResult[]>();
  /** Submissions that failed at least once (then retried). */
  retried = 0;
  /** Attempts that failed, by error name and first line of the message. */
  readonly errors = new Map<string, number>();
  /** Every submission's timing: when it was first sent and when it was acknowledged (undefined if never). */
  readonly timings: { orderId: string; sentAt: number; acknowledgedAt?: number; attempts: number }[] = [];
  /** Submissions given up after the retry budget, with their last error. */
  readonly unacknowledged: { orderId: string; error: string }[] = [];
  private readonly retryForMs: number;
  private readonly attemptTimeoutMs: number;

  constructor(options: SubmitterOptions = {}) {
    this.retryForMs = options.retryForMs ?? 90_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 20_000;
  }

  /** Submits one order through `via`, retrying errors with backoff (200 ms doubling to 2 s) within the budget. */
  async submit(via: ConnectedJobClient, orderId: string): Promise<SubmitResult | undefined> {
    const deadline = Date.now() + this.retryForMs;
    const timing: (typeof this.timings)[number] = { orderId, sentAt: Date.now(), attempts: 0 };
    this.timings.push(timing);
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      timing.attempts = attempt;
      try {
        const result = await via.client.connection.withDeadline(Date.now() + this.attemptTimeoutMs, () => via.jobs.submit(ORDER_TYPE, orderInput(orderId)));
        timing.acknowledgedAt = Date.now();
        const answers = this.acknowledged.get(result.jobId) ?? [];
        answers.push(result);
        this.acknowledged.set(result.jobId, answers);
        return result;
      } catch (err) {
        const error = err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
        this.errors.set(error, (this.errors.get(error) ?? 0) + 1);
        if (attempt === 1) this.retried += 1;
        if (Date.now() + delay > deadline) {
          this.unacknowledged.push({ orderId, error });
          return undefined;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  /** Total failed attempts. */
  get errorCount(): number {
    return [...this.errors.values()].reduce((a, b) => a + b, 0);
  }

  /** The error tally as plain JSON. */
  errorSummary(): Record<string, number> {
    return Object.fromEntries(this.errors);
  }
}

/** Runs `fn` for each item, starting item i at `i * durationMs / items.length`, at most `concurrency` at once. */
export async function paced<T>(items: readonly T[], durationMs: number, concurrency: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  const start = Date.now();
  const gap = items.length > 0 ? durationMs / items.length : 0;
  const running = new Set<Promise<unknown>>();
  for (let i = 0; i < items.length; i++) {
    const wait = start + i * gap - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (running.size >= concurrency) await Promise.race(running);
    const task: Promise<unknown> = fn(items[i]!, i).finally(() => running.delete(task));
    running.add(task);
  }
  await Promise.all(running);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retries each parked job as an operator would (`jobledger dlq retry`); returns the ids retried and the refusals. */
export async function retryAsOperator(
  via: ConnectedJobClient,
  jobIds: readonly string[],
  who: OperatorIdentity,
): Promise<{ retried: string[]; refused: string[] }> {
  const retried: string[] = [];
  const refused: string[] = [];
  for (const jobId of jobIds) {
    try {
      await via.jobs.act(jobId, { action: 'retry', ...who });
      retried.push(jobId);
    } catch (err) {
      refused.push(`${jobId}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { retried, refused };
}
