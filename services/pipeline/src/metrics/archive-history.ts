import { type Archive, listProofs, listSnapshots } from '@pullback/archive';

/** What the archive's listing says, per component and in all. */
export interface ArchiveHistory {
  /** When this listing started (ms since the epoch). */
  readonly listedAt: number;
  /** Sum of the kept snapshots' `logicalBytes`. */
  readonly logicalBytes: number;
  /** Sum of the kept snapshots' `newBytesStored`: what each added to the archive when it was made. */
  readonly storedBytes: number;
  readonly components: ReadonlyMap<string, ComponentHistory>;
}

export interface ComponentHistory {
  readonly snapshots: number;
  /** The newest snapshot whose restore drill succeeded. */
  readonly lastProven?: { readonly id: string; readonly time: string; readonly logicalBytes: number };
}

export interface ArchiveHistoryOptions {
  /** Listed again after this long even when nothing new is recorded (forget, prune). Default: 60 000 ms. */
  readonly maxAgeMs?: number;
  /** How long a scrape waits for a listing before it takes the last one. Default: 5 000 ms. */
  readonly waitMs?: number;
}

/**
 * The archive's history for the metrics, from what the archive already records (the
 * snapshots' sealed manifests and the drills' proofs; no pack, no index). Listed
 * at most once per `maxAgeMs`, or sooner when the registry records a snapshot or a
 * proof the last listing did not see (`seen`); a listing slower than `waitMs` goes on
 * in the background and the scrape takes the last one.
 */
export class ArchiveHistorySource {
  private readonly maxAgeMs: number;
  private readonly waitMs: number;
  private last: { readonly history: ArchiveHistory; readonly at: number; readonly seen: string } | undefined;
  private listing: Promise<void> | undefined;

  constructor(
    private readonly archive: Archive,
    options: ArchiveHistoryOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.waitMs = options.waitMs ?? 5_000;
  }

  /**
   * The history; `seen` names what the registry knows now (snapshot and proof ids):
   * when it differs from what the last listing was taken at, the archive is listed
   * again. Undefined until a first listing ended.
   */
  async read(seen: string): Promise<ArchiveHistory | undefined> {
    const last = this.last;
    if (last === undefined || last.seen !== seen || Date.now() - last.at >= this.maxAgeMs) {
      this.listing ??= this.list(seen).finally(() => {
        this.listing = undefined;
      });
      const listing = this.listing;
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.waitMs);
      });
      await Promise.race([listing.catch(() => {}), waited]).finally(() => clearTimeout(timer));
    }
    return this.last?.history;
  }

  private async list(seen: string): Promise<void> {
    const at = Date.now();
    const [snapshots, proofs] = await Promise.all([listSnapshots(this.archive), listProofs(this.archive)]);
    const components = new Map<string, { snapshots: number; lastProven?: ComponentHistory['lastProven'] }>();
    let logicalBytes = 0;
    let storedBytes = 0;
    for (const snapshot of snapshots) {
      logicalBytes += snapshot.stats.logicalBytes;
      storedBytes += snapshot.stats.newBytesStored;
      const name = snapshot.tags.component;
      if (name === undefined) continue;
      const component = components.get(name) ?? { snapshots: 0 };
      component.snapshots += 1;
      const proven = proofs.get(snapshot.id)?.ok === true;
      if (proven && (component.lastProven === undefined || component.lastProven.time < snapshot.time)) {
        component.lastProven = {
          id: snapshot.id,
          time: snapshot.time,
          logicalBytes: snapshot.stats.logicalBytes,
        };
      }
      components.set(name, component);
    }
    this.last = { history: { listedAt: at, logicalBytes, storedBytes, components }, at, seen };
  }
}
