import {
  type ComponentStatus,
  type FullStatus,
  fallbackCondition,
  type InstanceStatus,
} from '@pullback/pipeline';
import { activationLines, instanceLines, leaderLine, permissionLines } from './election-status-view.js';
import { formatBytes } from './progress-display.js';
import { walLines } from './wal-status-view.js';

/**
 * `pullback status` as text: the election leader, then per component the active and
 * its epoch, the active lease, the clients' connection string, the last export and
 * snapshot (and logical snapshot) with their age, each fallback with its state,
 * snapshot, LSN and how far behind it is, each instance with its agent, the newest
 * activations, then bad
 * snapshots, failures and running jobs. The demo prints the same, so what it shows is
 * what a user will see.
 */
export function renderStatus(status: FullStatus): string {
  if (status.components.length === 0) {
    return 'no components in the registry: start `pullback up` with a config that has some\n';
  }
  const now = Date.parse(status.at);
  return [
    `${leaderLine(status)}\n`,
    ...status.components.map((component) => renderComponent(component, status, now)),
  ].join('\n');
}

function renderComponent(component: ComponentStatus, status: FullStatus, now: number): string {
  const lines: string[] = [];
  lines.push(
    `${component.name} (${component.recipe}, schedule "${component.schedule}")  active: ${component.active ?? 'none'}, epoch ${component.epoch}`,
  );
  lines.push(...permissionLines(component));
  const lastExport = component.lastExport;
  const next = status.nextExports[component.name];
  lines.push(
    `  last export    ${
      lastExport === undefined
        ? 'none yet'
        : `${lastExport.ok ? 'ok' : `FAILED: ${lastExport.reason ?? 'no reason recorded'}`}${
            lastExport.kind === 'logical' ? ' (logical)' : ''
          }, ${ago(lastExport.finishedAt, now)}${
            lastExport.bytes === undefined ? '' : `, ${formatBytes(lastExport.bytes)}`
          }`
    }${next === undefined ? '' : `; next scheduled ${inTime(next, now)}`}`,
  );
  lines.push(...corruptPageLines(component));
  lines.push(`  last snapshot  ${snapshotLine(component.lastSnapshot)}`);
  // Logical snapshots (docs/exports.md) are their own line: fallbacks never take them.
  const nextLogical = status.nextLogicalExports?.[component.name];
  if (component.lastLogicalSnapshot !== undefined || nextLogical !== undefined) {
    lines.push(
      `  last logical   ${snapshotLine(component.lastLogicalSnapshot)}${
        nextLogical === undefined ? '' : `; next scheduled ${inTime(nextLogical, now)}`
      }`,
    );
  }

  lines.push(...walLines(component, now));

  const fallbacks = component.instances.filter((instance) => instance.role === 'fallback');
  if (fallbacks.length > 0) {
    const rows = fallbacks.map((instance) => fallbackRow(instance));
    lines.push(
      ...table(['FALLBACK', 'STATE', 'SNAPSHOT', 'LSN', 'SOURCE', 'REPLAYED', 'BEHIND', 'WHY'], rows, '  '),
    );
  }
  lines.push(...instanceLines(component));
  lines.push(...activationLines(component));
  const bad = Object.entries(component.badSnapshots);
  for (const [id, health] of bad) {
    lines.push(
      `  bad snapshot   ${id.slice(0, 12)} on ${health.instance}: ${health.reason ?? 'failed to start'}`,
    );
  }
  for (const failure of component.failures.slice(0, 5)) {
    lines.push(
      `  failure        ${failure.stage}${failure.instance === undefined ? '' : ` ${failure.instance}`}, ` +
        `${ago(failure.at, now)}${failure.final ? '' : ' (will retry)'}: ${failure.message}`,
    );
  }
  for (const job of status.running.filter((running) => running.component === component.name)) {
    const progress = job.progress;
    lines.push(
      `  running        ${job.queue}${job.instance === undefined ? '' : ` ${job.instance}`}${
        progress === undefined
          ? ''
          : `: ${progress.stage} ${formatBytes(progress.bytesDone)}${
              progress.bytesTotal === undefined ? '' : ` of ${formatBytes(progress.bytesTotal)}`
            }`
      }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

// A fallback's state in one word, as `status`, the dashboard and the metrics show it.
export { fallbackCondition };

function snapshotLine(snapshot: ComponentStatus['lastSnapshot']): string {
  return snapshot === undefined
    ? 'none yet'
    : `${snapshot.id.slice(0, 12)}  ${clock(snapshot.time)}, ${duration(snapshot.ageSeconds)} ago, ` +
        `${formatBytes(snapshot.logicalBytes)} (${formatBytes(snapshot.newBytesStored)} new)`;
}

/** Why a fallback is not healthy; empty when it is. */
export function fallbackWhy(instance: InstanceStatus): string {
  const state = instance.state;
  return state?.healthy
    ? ''
    : (state?.reason ?? (state === undefined ? 'no report from its import agent' : ''));
}

/** How far behind the active a fallback is: bytes and seconds, those known; '-' when neither is. */
export function fallbackBehind(instance: InstanceStatus): string {
  return (
    [
      instance.state?.behindBytes === undefined ? undefined : formatBytes(instance.state.behindBytes),
      instance.behindSeconds === undefined ? undefined : duration(instance.behindSeconds),
    ]
      .filter((part) => part !== undefined)
      .join(', ') || '-'
  );
}

function fallbackRow(instance: InstanceStatus): string[] {
  const state = instance.state;
  const snapshot =
    state?.snapshotId === undefined
      ? '-'
      : `${state.snapshotId.slice(0, 12)}${instance.atLastSnapshot ? ' (last)' : ''}`;
  return [
    `${instance.name} :${instance.port}`,
    fallbackCondition(instance),
    snapshot,
    state?.lsn ?? '-',
    state?.source ?? '-',
    state?.replayedAt === undefined ? '-' : clock(state.replayedAt),
    fallbackBehind(instance),
    fallbackWhy(instance),
  ];
}

function table(header: string[], rows: string[][], indent: string): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  return [header, ...rows].map(
    (row) =>
      `${indent}${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd()}`,
  );
}

/** A span of seconds the way people say it: 42 s, 3 min, 2 h 5 min, 3 d. */
export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.round(hours / 24)} d`;
}

export function ago(time: string, now: number): string {
  return `${duration(Math.max(0, (now - Date.parse(time)) / 1000))} ago`;
}

function inTime(time: string, now: number): string {
  return `in ${duration(Math.max(0, (Date.parse(time) - now) / 1000))}`;
}

/** An ISO time as `2026-01-02 10:00:00Z`. */
export function clock(time: string): string {
  return time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** The pages the last export found corrupt, and the snapshot they went into (docs/exports.md). */
function corruptPageLines(component: ComponentStatus): string[] {
  const exported = component.lastExport;
  const pages = exported?.corruptPages;
  if (exported === undefined || pages === undefined || pages.length === 0) return [];
  const count = exported.corruptPageCount ?? pages.length;
  const snapshot =
    component.lastSnapshot?.exportId === exported.exportId
      ? `snapshot ${component.lastSnapshot.id.slice(0, 12)}`
      : `the snapshot of export ${exported.exportId}`;
  const shown = pages.slice(0, 5).map((page) => `${page.file} block ${page.block}`);
  return [
    `  CORRUPT PAGES  ${count} (wrong checksum) in ${snapshot}: ${shown.join(', ')}${count > shown.length ? ', ...' : ''}`,
  ];
}
