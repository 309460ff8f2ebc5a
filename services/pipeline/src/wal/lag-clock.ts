import { parseLsn } from '@pullback/archive';

/**
 * How long the archive has been behind the active: the active's positions are noted
 * as they are read, and once the archive holds one, the archive was caught up with
 * the active as of when that position was read. Seconds behind is the time since.
 */
export class LagClock {
  private readonly seen: { lsn: bigint; at: number }[] = [];
  private caughtUpAt: number | undefined;

  /** Notes the active's position `activeLsn` (read at `now`) and where the archive is; returns seconds behind. */
  update(activeLsn: string, archivedLsn: string | undefined, now = Date.now()): number {
    const active = parseLsn(activeLsn);
    const archived = archivedLsn === undefined ? -1n : parseLsn(archivedLsn);
    if (this.seen.at(-1)?.lsn !== active) this.seen.push({ lsn: active, at: now });
    // A few minutes of once-a-second readings at most.
    if (this.seen.length > 600) this.seen.shift();
    while (this.seen[0] !== undefined && this.seen[0].lsn <= archived) {
      this.caughtUpAt = this.seen[0].at;
      this.seen.shift();
    }
    if (archived >= active) {
      this.caughtUpAt = now;
      return 0;
    }
    const since = this.caughtUpAt ?? this.seen[0]?.at ?? now;
    return Math.max(0, Math.round((now - since) / 100) / 10);
  }
}
