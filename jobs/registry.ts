/**
 * The set of job definitions a process knows. The client validates submissions against it and the
 * worker registers one activity per step from it. Names and versions must be unique.
 */
import type { JobDefinition } from './define';

export class UnknownJobTypeError extends Error {
  override readonly name = 'UnknownJobTypeError';
  constructor(
    readonly jobType: string,
    readonly known: string[],
  ) {
    super(`unknown job type '${jobType}'; known types: ${known.join(', ') || '(none)'}`);
  }
}

export class JobRegistry {
  private readonly byType = new Map<string, JobDefinition>();

  constructor(definitions: readonly JobDefinition[]) {
    for (const definition of definitions) {
      if (this.byType.has(definition.type)) throw new Error(`job type '${definition.type}' is defined twice`);
      this.byType.set(definition.type, definition);
    }
  }

  get(jobType: string): JobDefinition {
    const definition = this.byType.get(jobType);
    if (!definition) throw new UnknownJobTypeError(jobType, [...this.byType.keys()]);
    return definition;
  }

  /** The definition of `jobType`, or undefined when this registry does not know it. */
  find(jobType: string): JobDefinition | undefined {
    return this.byType.get(jobType);
  }

  all(): JobDefinition[] {
    return [...this.byType.values()];
  }
}
