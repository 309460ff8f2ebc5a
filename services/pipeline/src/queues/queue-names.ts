import type { ArtifactKind } from '../artifact/format.js';

/*
 * Queue names, one queue per role. Imports go to one queue per fallback instance,
 * because only the agent next to that instance can restore it and a queue is how
 * BullMQ routes work to a set of workers; exports share one queue because the
 * instance that runs them (the active) changes on activation, so the export worker
 * routes them itself (see `runExport`'s caller). BullMQ forbids ":" in queue names
 * and job ids; component and instance names never contain one.
 */

export const EXPORT_QUEUE = 'export';
export const PULL_QUEUE = 'pull';

/** The import queue of fallback `instance`. */
export function importQueueName(instance: string): string {
  return `import.${instance}`;
}

/** The id of component `component`'s export job scheduler. */
export function exportSchedulerId(component: string): string {
  return `export.${component}`;
}

/** The id of component `component`'s logical export job scheduler (its config's `logical.schedule`). */
export function logicalSchedulerId(component: string): string {
  return `export.${component}.logical`;
}

/**
 * The job id of `pullback export <component> --now`. Fixed per component: BullMQ
 * ignores an add whose id exists, so a second `--now` while one waits, runs or
 * retries is the same job. Such jobs are removed once finished, so the next `--now`
 * makes a new one.
 */
export function exportNowJobId(component: string, kind: ArtifactKind = 'physical'): string {
  return kind === 'logical' ? `export-now.${component}.logical` : `export-now.${component}`;
}

/** One pull per export: a pull job enqueued twice (an export retried after enqueueing) is one job. */
export function pullJobId(component: string, exportId: string): string {
  return `pull.${component}.${exportId}`;
}

/** One import per snapshot and fallback. */
export function importJobId(instance: string, snapshotId: string): string {
  return `import.${instance}.${snapshotId}`;
}
