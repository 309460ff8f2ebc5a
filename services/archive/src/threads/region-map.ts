import { idKey } from '../blob-index/blob-location.js';
import { pageHash as hashPage, ID_BYTES, PAGE_HASH_BYTES } from '../crypto/hash.js';
import { sealBlob, sealBlobWithId } from '../pack/blob-codec.js';
import { BlobType, Compression, type SealedBlob } from '../pack/blob-entry.js';
import { encodePageMap, type PageMap, runAt } from '../snapshot/page-map.js';
import type { WorkContext } from './work-context.js';

/** New pages that are not whole superblocks are sealed together up to this size. */
const GROUP_BYTES = 128 * 1024;

/** A region's page map as built: reused from the parent (no `mapBlob`) or new. */
export interface RegionMap {
  readonly mapId: Buffer;
  /** Absent when the region is the parent's and the parent's map is reused. */
  readonly mapBlob?: SealedBlob;
  /** New data blobs. */
  readonly blobs: SealedBlob[];
  /** Bytes of the file the region covers. */
  readonly length: number;
}

/**
 * Builds one region's page map from its superblocks, given in order, against the
 * parent's map of the same region: the one place that decides what a region stores,
 * for a file read (`handlePages`) and for pages laid over the parent's (`handleOverlay`),
 * so both make the same map of the same bytes. Each superblock is hashed (keyed, as it
 * may become a blob id); one equal to the parent's superblock at the same place keeps
 * the parent's pages and runs. Otherwise its pages are hashed (plain, see `pageHash`):
 * pages equal to the parent's keep their runs, and the rest are stored, whole
 * superblocks as one blob (named by the superblock hash) and scattered pages grouped
 * into blobs of up to 128 KiB.
 */
export class RegionMapBuilder {
  private readonly pageSize: number;
  private readonly superblockPages: number;
  private readonly superblockBytes: number;
  private readonly superblockHashes: Buffer;
  private readonly pageHashes: Buffer;
  private readonly parentSuperblocks: number;
  private readonly parentPages: number;
  private readonly blobIds: Buffer[] = [];
  private readonly blobIndex = new Map<string, number>();
  private readonly runs: number[] = [];
  private readonly blobs: SealedBlob[] = [];
  private readonly sealed = new Set<string>();
  private group: Buffer[] = [];
  private groupStarts: number[] = [];
  private groupBytes = 0;
  private allSame: boolean;
  private length = 0;

  constructor(
    private readonly ctx: WorkContext,
    private readonly parent: PageMap | undefined,
    /** The region's length at most. */
    maxLength: number,
  ) {
    this.pageSize = ctx.config.pageSize;
    this.superblockPages = ctx.config.superblockPages;
    this.superblockBytes = this.pageSize * this.superblockPages;
    const maxPages = Math.ceil(maxLength / this.pageSize);
    this.superblockHashes = Buffer.allocUnsafe(Math.ceil(maxPages / this.superblockPages) * ID_BYTES);
    this.pageHashes = Buffer.allocUnsafe(maxPages * PAGE_HASH_BYTES);
    this.allSame = parent !== undefined;
    this.parentSuperblocks = parent ? parent.superblockHashes.length / ID_BYTES : 0;
    this.parentPages = parent ? parent.pageHashes.length / PAGE_HASH_BYTES : 0;
  }

  /** Whether superblock `s`, ending at `end` (in the region), is the parent's there to the same end. */
  parentHas(s: number, end: number): boolean {
    const { parent } = this;
    return (
      parent !== undefined &&
      s < this.parentSuperblocks &&
      Math.min(parent.length, (s + 1) * this.superblockBytes) === end
    );
  }

  /**
   * Superblock `s`, known to hold exactly the parent's bytes there, to the same end
   * (`parentHas`): its hashes and runs are the parent's, without reading it.
   */
  keep(s: number, end: number): void {
    const parent = this.parent!;
    parent.superblockHashes.copy(this.superblockHashes, s * ID_BYTES, s * ID_BYTES, (s + 1) * ID_BYTES);
    this.keepPages(s, end);
  }

  /** Superblock `s`: its bytes, from its start to the end of the region or of the superblock. */
  async add(s: number, bytes: Buffer): Promise<void> {
    const { ctx, parent, pageSize } = this;
    const start = s * this.superblockBytes;
    const end = start + bytes.length;
    const hash = ctx.hash.digest(bytes);
    hash.copy(this.superblockHashes, s * ID_BYTES);
    if (
      this.parentHas(s, end) &&
      parent!.superblockHashes.compare(hash, 0, ID_BYTES, s * ID_BYTES, (s + 1) * ID_BYTES) === 0
    ) {
      this.keepPages(s, end);
      return;
    }
    this.length = end;
    this.allSame = false;
    const changed: number[] = [];
    const firstPage = s * this.superblockPages;
    const lastPage = Math.ceil(end / pageSize);
    for (let p = firstPage; p < lastPage; p++) {
      const pageStart = p * pageSize;
      const pageEnd = Math.min(end, pageStart + pageSize);
      const pageHash = hashPage(bytes.subarray(pageStart - start, pageEnd - start));
      pageHash.copy(this.pageHashes, p * PAGE_HASH_BYTES, 0, PAGE_HASH_BYTES);
      const same =
        parent !== undefined &&
        p < this.parentPages &&
        Math.min(parent.length, pageStart + pageSize) === pageEnd &&
        parent.pageHashes.compare(
          pageHash,
          0,
          PAGE_HASH_BYTES,
          p * PAGE_HASH_BYTES,
          (p + 1) * PAGE_HASH_BYTES,
        ) === 0;
      if (same) this.keepParent(pageStart, pageEnd);
      else changed.push(p);
    }
    if (changed.length === lastPage - firstPage) {
      // Every page is new: the superblock is one blob, named by the hash just computed.
      const index = this.indexOf(hash);
      if (!this.sealed.has(idKey(hash))) {
        this.sealed.add(idKey(hash));
        this.blobs.push(await sealBlobWithId(ctx.encryptionKey, BlobType.Data, hash, bytes, ctx.compression));
      }
      this.runs.push(start, end - start, index, 0);
      return;
    }
    for (const p of changed) {
      const pageStart = p * pageSize;
      // Copied: the caller reuses its buffer for the next superblocks.
      const page = Buffer.from(
        bytes.subarray(pageStart - start, Math.min(end, pageStart + pageSize) - start),
      );
      this.group.push(page);
      this.groupStarts.push(pageStart);
      this.groupBytes += page.length;
      if (this.groupBytes >= GROUP_BYTES) await this.flushGroup();
    }
  }

  /** The region's map: the parent's (`parentMapId`) when every superblock and the length are its. */
  async finish(parentMapId: Buffer | undefined): Promise<RegionMap> {
    const { ctx, pageSize, length } = this;
    await this.flushGroup();
    if (this.allSame && this.parent?.length === length && parentMapId) {
      return { mapId: parentMapId, blobs: this.blobs, length };
    }
    const pages = Math.ceil(length / pageSize);
    const superblocks = Math.ceil(pages / this.superblockPages);
    const map: PageMap = {
      length,
      pageSize,
      superblockPages: this.superblockPages,
      superblockHashes: this.superblockHashes.subarray(0, superblocks * ID_BYTES),
      pageHashes: this.pageHashes.subarray(0, pages * PAGE_HASH_BYTES),
      blobs: this.blobIds,
      runs: mergeRuns(this.runs),
    };
    const mapBlob = await sealBlob(
      ctx.encryptionKey,
      ctx.hash,
      BlobType.Map,
      encodePageMap(map),
      Compression.None,
    );
    return { mapId: mapBlob.id, mapBlob, blobs: this.blobs, length };
  }

  /** The parent's page hashes and runs over superblock `s`, up to `end`. */
  private keepPages(s: number, end: number): void {
    const firstPage = s * this.superblockPages;
    const lastPage = Math.min(Math.ceil(end / this.pageSize), firstPage + this.superblockPages);
    this.parent!.pageHashes.copy(
      this.pageHashes,
      firstPage * PAGE_HASH_BYTES,
      firstPage * PAGE_HASH_BYTES,
      lastPage * PAGE_HASH_BYTES,
    );
    this.keepParent(s * this.superblockBytes, end);
    this.length = end;
  }

  private indexOf(id: Buffer): number {
    const key = idKey(id);
    let index = this.blobIndex.get(key);
    if (index === undefined) {
      index = this.blobIds.length;
      this.blobIds.push(id);
      this.blobIndex.set(key, index);
    }
    return index;
  }

  private async flushGroup(): Promise<void> {
    const { ctx, group } = this;
    if (group.length === 0) return;
    const blob = await sealBlob(
      ctx.encryptionKey,
      ctx.hash,
      BlobType.Data,
      Buffer.concat(group),
      ctx.compression,
    );
    const index = this.indexOf(blob.id);
    if (!this.sealed.has(idKey(blob.id))) {
      this.sealed.add(idKey(blob.id));
      this.blobs.push(blob);
    }
    let at = 0;
    for (let i = 0; i < group.length; i++) {
      this.runs.push(this.groupStarts[i]!, group[i]!.length, index, at);
      at += group[i]!.length;
    }
    this.group = [];
    this.groupStarts = [];
    this.groupBytes = 0;
  }

  /** Copies the parent's runs over [start, end) of the region. */
  private keepParent(start: number, end: number): void {
    const parent = this.parent!;
    const pr = parent.runs;
    for (let r = runAt(pr, start); r < pr.length / 4 && pr[r * 4]! < end; r++) {
      const runStart = pr[r * 4]!;
      const from = Math.max(start, runStart);
      const to = Math.min(end, runStart + pr[r * 4 + 1]!);
      const blob = parent.blobs[pr[r * 4 + 2]!]!;
      this.runs.push(from, to - from, this.indexOf(blob), pr[r * 4 + 3]! + (from - runStart));
    }
  }
}

/** Sorts runs by start and joins neighbours that continue the same blob. */
function mergeRuns(flat: number[]): Uint32Array {
  const count = flat.length / 4;
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => flat[a * 4]! - flat[b * 4]!);
  const out: number[] = [];
  for (const i of order) {
    const start = flat[i * 4]!;
    const len = flat[i * 4 + 1]!;
    const blob = flat[i * 4 + 2]!;
    const at = flat[i * 4 + 3]!;
    const last = out.length - 4;
    if (
      last >= 0 &&
      out[last + 2] === blob &&
      out[last]! + out[last + 1]! === start &&
      out[last + 3]! + out[last + 1]! === at
    ) {
      out[last + 1]! += len;
    } else {
      out.push(start, len, blob, at);
    }
  }
  return Uint32Array.from(out);
}
