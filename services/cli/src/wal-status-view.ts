import type { ComponentStatus, WalGap, WalReceiverState } from '@pullback/pipeline';
import { formatBytes } from './progress-display.js';

/**
 * The WAL lines of a component in `pullback status` (docs/wal.md): where its receiver
 * runs, whether it streams, how far the archive is behind the active, what the slot
 * holds back, and the gaps the archive has. Synchronous mode with the receiver down
 * gets a loud line: every commit on the active waits.
 */
export function walLines(component: ComponentStatus, now: number): string[] {
  const lines: string[] = [];
  const receiver = component.walReceiver;
  if (receiver !== undefined) lines.push(...receiverLines(receiver, now));
  for (const gap of component.walGaps ?? []) lines.push(gapLine(gap));
  return lines;
}

function receiverLines(receiver: WalReceiverState, now: number): string[] {
  const lines: string[] = [];
  const mode = receiver.synchronous ? 'synchronous' : 'asynchronous';
  const state = receiver.streaming
    ? 'streaming'
    : `NOT STREAMING${receiver.reason === undefined ? '' : `: ${receiver.reason}`}`;
  lines.push(
    `  wal receiver   ${state}, ${mode}, on ${receiver.holder}${receiver.source === undefined ? '' : ` from ${receiver.source}`}` +
      `, reported ${ago(receiver.updatedAt, now)}`,
  );
  if (receiver.synchronous && (!receiver.streaming || receiver.blockingWrites === true)) {
    lines.push(
      `  !! WAL RECEIVER DOWN IN SYNCHRONOUS MODE: the active's writes block until it streams again`,
    );
  }
  const behind = [
    receiver.behindBytes === undefined ? undefined : formatBytes(receiver.behindBytes),
    receiver.behindSeconds === undefined ? undefined : `${receiver.behindSeconds.toFixed(1)} s`,
  ].filter((part) => part !== undefined);
  lines.push(
    `  wal archived   ${receiver.archivedLsn ?? '-'}${receiver.archivedAt === undefined ? '' : ` at ${clock(receiver.archivedAt)}`}` +
      `, flushed ${receiver.flushedLsn ?? '-'}` +
      `${receiver.timeline === undefined ? '' : `, timeline ${receiver.timeline}`}` +
      `; behind the active: ${behind.length === 0 ? 'unknown' : behind.join(', ')}`,
  );
  lines.push(
    `  wal slot       ${receiver.slot}: ${receiver.slotStatus ?? 'status unknown'}` +
      `${receiver.slotRetainedBytes === undefined ? '' : `, holds back ${formatBytes(receiver.slotRetainedBytes)} on the active`}`,
  );
  const { exportSlot } = receiver;
  if (exportSlot !== undefined) {
    lines.push(
      `  export slot    ${exportSlot.name}: ${exportSlot.status ?? 'status unknown'}` +
        `${exportSlot.retainedBytes === undefined ? '' : `, holds back ${formatBytes(exportSlot.retainedBytes)} on the active (the WAL since the last export)`}`,
    );
  }
  if (receiver.maxSlotWalKeepSize === '-1') {
    lines.push(
      `  !! max_slot_wal_keep_size is unlimited (-1) on the active: a receiver that stays down can fill its disk`,
    );
  }
  return lines;
}

function gapLine(gap: WalGap): string {
  const times =
    gap.fromTime === undefined && gap.toTime === undefined
      ? ''
      : `; nothing from ${gap.fromTime === undefined ? '?' : clock(gap.fromTime)} to ${gap.toTime === undefined ? '?' : clock(gap.toTime)} can be restored`;
  return `  WAL GAP        timeline ${gap.timeline} ${gap.fromLsn} to ${gap.toLsn} (${gap.cause})${times}`;
}

function ago(time: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(time)) / 1000));
  return `${seconds} s ago`;
}

function clock(time: string): string {
  return time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
