import { isArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { readWalHeader } from './archive-wal.js';
import type { WalObjectInfo } from './list-wal.js';
import type { WalHeader } from './wal-object.js';

/** A segment's objects as listed: the complete one, its partial, or both (a late partial). */
export interface SegmentObjects {
  complete?: WalObjectInfo;
  partial?: WalObjectInfo;
}

/** Headers read at most once each; one that does not open counts as unknown (verify reports it). */
export class HeaderCache {
  private readonly cache = new Map<string, WalHeader | undefined>();

  constructor(
    private readonly archive: Archive,
    private readonly stream: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The complete segment's header, else the partial's. */
  async read(name: string, entry: SegmentObjects): Promise<WalHeader | undefined> {
    const partial = entry.complete === undefined;
    const key = `${name}${partial ? '.partial' : ''}`;
    if (this.cache.has(key)) return this.cache.get(key);
    let header: WalHeader | undefined;
    try {
      header = await readWalHeader(this.archive, this.stream, name, {
        partial,
        ...(this.signal ? { signal: this.signal } : {}),
      });
    } catch (error) {
      if (!isArchiveError(error, 'corrupt')) throw error;
    }
    this.cache.set(key, header);
    return header;
  }
}
