/** Visibility queries in tests. The dev server's visibility store is eventually consistent, so counts are polled. */
import type { Client } from '@temporalio/client';

export async function countJobs(client: Client, query: string): Promise<number> {
  return (await client.workflow.count(query)).count;
}

/** Polls until the count equals `expected` (or 10 s pass) and returns the last count seen. */
export async function waitForCount(client: Client, query: string, expected: number): Promise<number> {
  let count = -1;
  for (let i = 0; i < 50; i++) {
    count = await countJobs(client, query);
    if (count === expected) return count;
    await new Promise((r) => setTimeout(r, 200));
  }
  return count;
}
