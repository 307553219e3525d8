/**
 * `greeting.send`: the smallest complete job. It composes a greeting and then records its delivery,
 * two steps with no downstream service. It exercises the whole path (client, workflow, activities,
 * ledger, search attributes) without the sandbox providers.
 */
import { z } from 'zod';
import { defineJob } from '../../jobs/define';

export const GreetingInput = z.strictObject({
  recipientId: z.string().min(1).max(64).meta({ pii: false }),
  language: z.enum(['en', 'fr', 'de']).default('en').meta({ pii: false }),
});
export type GreetingInput = z.infer<typeof GreetingInput>;

const WORDS = { en: 'Hello', fr: 'Bonjour', de: 'Hallo' } as const;

export const greetingJob = defineJob({
  type: 'greeting.send',
  version: 1,
  input: GreetingInput,
  key: (input) => `greet-${input.recipientId}-${input.language}`,
  steps: [
    {
      name: 'compose',
      run: async ({ input }) => ({ text: `${WORDS[input.language]}, ${input.recipientId}` }),
    },
    {
      name: 'deliver',
      run: async ({ stepKey, log }) => {
        log.info({ delivery_key: stepKey }, 'greeting delivered');
        return { deliveredWith: stepKey };
      },
    },
  ],
});
