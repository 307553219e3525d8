/** The workflow bundle's entry: every workflow type the worker registers. */
export { jobWorkflow, jobStateQuery } from './job';
