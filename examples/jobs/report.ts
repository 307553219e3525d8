/**
 * `report.generate` fans out one `report.section` child job per section and waits for them; each child
 * renders its section in a long step that heartbeats its progress. Child ids derive from the report's key
 * and the section's index, so a retried or rerun report never starts a second child for a section.
 */
import { z } from 'zod';
import { defineJob } from '../../jobs/define';

const PUBLIC = { pii: false } as const;

export const ReportInput = z.strictObject({
  reportId: z.string().min(1).max(64).meta(PUBLIC),
  sections: z.array(z.string().min(1).max(80)).min(1).max(20).meta(PUBLIC),
});
export type ReportInput = z.infer<typeof ReportInput>;

export const SectionInput = z.strictObject({
  reportId: z.string().min(1).max(64).meta(PUBLIC),
  index: z.number().int().min(0).meta(PUBLIC),
  title: z.string().min(1).max(80).meta(PUBLIC),
});

/** Chunks a section renders; each one is a heartbeat with progress details. */
const CHUNKS = 5;

export const reportSectionJob = defineJob({
  type: 'report.section',
  version: 1,
  input: SectionInput,
  steps: [
    {
      name: 'render',
      startToCloseTimeout: '2m',
      heartbeatTimeout: '10s',
      run: async ({ input, heartbeat, signal }) => {
        for (let done = 1; done <= CHUNKS; done++) {
          await new Promise((r) => setTimeout(r, 20));
          if (signal.aborted) throw new Error('rendering cancelled');
          heartbeat({ done, total: CHUNKS, section: input.index });
        }
        return { section: input.index, title: input.title, chunks: CHUNKS };
      },
    },
  ],
});

export const reportGenerateJob = defineJob({
  type: 'report.generate',
  version: 1,
  input: ReportInput,
  key: (input) => input.reportId,
  steps: [{ name: 'outline', run: async ({ input }) => ({ sections: input.sections.length }) }],
  children: {
    jobType: 'report.section',
    inputs: (input) => input.sections.map((title, index) => ({ reportId: input.reportId, index, title })),
  },
});
