/**
 * The dashboard's health sources (client/health.ts). The last reconcile verdict is recorded in the ledger
 * and read back by another ledger handle (as a dashboard on another host would), on both backends; the
 * audit archive's latest checkpoint is read from a real signed archive with its age, or "none yet", or
 * the problem with a damaged checkpoint file.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { appendLeaves, generateKeyPair, signerFrom } from '../audit/archive';
import { lastAuditCheckpoint, lastReconcileVerdict, RECONCILE_TRAIL, recordReconcileVerdict, verdictOf } from '../client/health';
import type { ReconcileReport } from '../client/reconcile';
import { openLedger } from '../ledger';
import { ledgerBackends } from './helpers/ledger-backends';
import { tempDir } from './helpers/servers';

/** A reconcile report with `discrepancies` of the given kinds over two compared rows. */
function report(checkedAt: string, kinds: ('ledger' | 'archive')[]): ReconcileReport {
  return {
    ok: kinds.length === 0,
    checkedAt,
    rows: [
      { jobType: 'order.fulfill', status: 'Completed', temporal: 3, ledger: 3 },
      { jobType: 'order.fulfill', status: 'Compensated', temporal: 1, ledger: 1 },
    ],
    mapping: [],
    discrepancies: kinds.map((kind) => ({ kind, expected: 1, actual: 2, detail: 'test' })),
  };
}

for (const backend of ledgerBackends()) {
  describe(backend.name, () => {
    test('the last reconcile verdict is recorded in the ledger and read back through another handle', async () => {
      const target = await backend.newTarget();
      const writer = openLedger(target);
      const reader = openLedger(target);
      try {
        assert.equal(await lastReconcileVerdict(reader), undefined, 'no verdict before reconcile ever ran');
        await writer.recordJobEvent('order.fulfill:o-1', 'job.note', { unrelated: true });
        const first = await recordReconcileVerdict(writer, verdictOf(report('2026-11-29T10:00:00.000Z', []), { checkedBy: 'alice', host: 'ops-1' }));
        await writer.recordJobEvent('order.fulfill:o-2', 'job.note', { unrelated: true });
        const second = await recordReconcileVerdict(
          writer,
          verdictOf(report('2026-11-29T11:00:00.000Z', ['ledger', 'ledger', 'archive']), { checkedBy: 'bob', host: 'ops-2' }),
        );
        assert.ok(second.seq > first.seq);

        const last = await lastReconcileVerdict(reader);
        assert.deepEqual(last, {
          checkedAt: '2026-11-29T11:00:00.000Z',
          ok: false,
          rows: 2,
          discrepancies: 3,
          byKind: { ledger: 2, archive: 1 },
          checkedBy: 'bob',
          host: 'ops-2',
          seq: second.seq,
          recordedAt: second.recordedAt,
        });
        // Every verdict stays on the reconcile trail, oldest first.
        const trail = await reader.events({ jobId: RECONCILE_TRAIL });
        assert.deepEqual(trail.map((e) => [e.seq, e.kind]), [[first.seq, 'reconcile.verdict'], [second.seq, 'reconcile.verdict']]);
      } finally {
        await writer.close();
        await reader.close();
      }
    });

    test('events newest first: the latest events of one job, or of the whole ledger, in descending seq', async () => {
      const ledger = openLedger(await backend.newTarget());
      try {
        const seqs = [];
        for (const [jobId, n] of [['a.b:x', 1], ['a.b:y', 2], ['a.b:x', 3], ['a.b:y', 4]] as const) seqs.push(await ledger.recordJobEvent(jobId, 'job.note', { n }));
        const newestOfX = await ledger.events({ jobId: 'a.b:x', newestFirst: true });
        assert.deepEqual(newestOfX.map((e) => e.data), [{ n: 3 }, { n: 1 }]);
        const [newest] = await ledger.events({ newestFirst: true, limit: 1 });
        assert.deepEqual(newest?.data, { n: 4 });
        const afterSecond = await ledger.events({ afterSeq: seqs[1], newestFirst: true });
        assert.deepEqual(afterSecond.map((e) => e.data), [{ n: 4 }, { n: 3 }]);
      } finally {
        await ledger.close();
      }
    });
  });
}

test('a verdict that does not match its schema is refused before anything is recorded', async () => {
  const ledger = openLedger(join(tempDir(), 'ledger.db'));
  try {
    const verdict = verdictOf(report('2026-11-29T10:00:00.000Z', []), { checkedBy: 'alice', host: 'ops-1' });
    await assert.rejects(recordReconcileVerdict(ledger, { ...verdict, checkedBy: '' }), { name: 'ZodError' });
    assert.deepEqual(await ledger.events({ jobId: RECONCILE_TRAIL }), []);
  } finally {
    await ledger.close();
  }
});

test('the last audit checkpoint: none yet, then the latest signed one and its age, then a damaged file named', async () => {
  const root = tempDir();
  const dir = join(root, 'archive');
  assert.deepEqual(await lastAuditCheckpoint(dir), { state: 'none', dir });

  const keys = await generateKeyPair(join(root, 'keys'));
  const signer = await signerFrom({ keyFile: keys.privateKeyFile });
  const entry = (i: number) => ({ jobId: `order.fulfill:o-${i}`, runId: `run-${i}`, closedAt: new Date(Date.UTC(2026, 0, i)), payload: { i } });
  await appendLeaves(dir, [entry(1), entry(2)], signer);
  const { checkpoint } = await appendLeaves(dir, [entry(3)], signer);
  assert.ok(checkpoint);
  const now = Date.parse(checkpoint.timestamp) + 90_000;
  assert.deepEqual(await lastAuditCheckpoint(dir, now), {
    state: 'checkpoint',
    dir,
    path: 'checkpoints/000002.json',
    timestamp: checkpoint.timestamp,
    treeSize: 3,
    ageMs: 90_000,
  });

  await writeFile(join(dir, 'checkpoints', '000003.json'), '{"treeSize": 4}\n');
  const damaged = await lastAuditCheckpoint(dir, now);
  assert.equal(damaged.state, 'unreadable');
  assert.match(damaged.state === 'unreadable' ? damaged.problem : '', /checkpoint checkpoints\/000003\.json is malformed/);
});
