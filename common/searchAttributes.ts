/**
 * Typed keys for the project's custom search attributes. The list itself lives in
 * `search-attributes.json`, which `temporal-dev.sh` also reads, so there is exactly one list; this module
 * only gives each entry its typed key and fails at load time if the JSON and the TypeScript disagree.
 * Safe to import from workflow code.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import list from './search-attributes.json';

type Declared = typeof list.attributes;

function keyword<N extends keyof Declared>(name: N) {
  if (list.attributes[name] !== 'Keyword') throw new Error(`search attribute ${name} is not a Keyword in the list`);
  return defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);
}

function int<N extends keyof Declared>(name: N) {
  if (list.attributes[name] !== 'Int') throw new Error(`search attribute ${name} is not an Int in the list`);
  return defineSearchAttributeKey(name, SearchAttributeType.INT);
}

export const SA = {
  JobType: keyword('JobType'),
  JobStatus: keyword('JobStatus'),
  JobStep: keyword('JobStep'),
  IdempotencyKey: keyword('IdempotencyKey'),
  ParentJobId: keyword('ParentJobId'),
  CorrelationId: keyword('CorrelationId'),
  SubmittedBy: keyword('SubmittedBy'),
  ErrorClass: keyword('ErrorClass'),
  JobAttempt: int('JobAttempt'),
} satisfies Record<keyof Declared, unknown>;

/** Every custom search attribute, for registering with a server (dev server, test environments). */
export const ALL_SEARCH_ATTRIBUTES = Object.values(SA);
