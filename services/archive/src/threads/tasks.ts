import type { SealedBlob } from '../pack/blob-entry.js';
import type { PageCheckTask } from './page-check.js';

/** Reads one region of a relation file, compares it with the parent's page map. */
export interface PagesTask {
  readonly kind: 'pages';
  readonly path: string;
  /** Where the file's bytes start in `path` (a member of a tar); offsets count from here. Default: 0. */
  readonly base?: number;
  readonly offset: number;
  readonly length: number;
  readonly parentMapId?: Buffer;
  /** Plaintext of the parent snapshot's page map for the same region of the same path. */
  readonly parentMap?: Buffer;
  /** Check each page's data checksum as it is read. */
  readonly check?: PageCheckTask;
}

export interface PagesResult {
  readonly mapId: Buffer;
  /** Absent when the region is unchanged and the parent's map is reused. */
  readonly mapBlob?: SealedBlob;
  readonly blobs: SealedBlob[];
  readonly bytesRead: number;
  /** With `check`: the block numbers of the pages whose checksum is wrong. */
  readonly corrupt?: number[];
}

/**
 * One region of a relation file given as the parent's region with new pages laid over
 * it (`handleOverlay`): only the superblocks that hold a new page, or whose end moved,
 * are assembled and hashed, from the new pages and the parent's blobs.
 */
export interface OverlayTask {
  readonly kind: 'overlay';
  /** The file holding the new pages. */
  readonly path: string;
  /**
   * Where the new pages are in `path`: from `at`, one after the other (a page delta);
   * or `inPlace`, each at its own place in the file itself, the region starting at
   * `regionAt` (a live file: pages checked with `check`, pages past its end read as zeros).
   */
  readonly pages: { readonly at: number } | { readonly regionAt: number; readonly check?: PageCheckTask };
  /** This region's new pages, numbered in the region: u32le each, increasing. */
  readonly blocks: Buffer;
  /** The region's new length. */
  readonly length: number;
  readonly parentMapId?: Buffer;
  /** Plaintext of the parent snapshot's page map of the same region; none past the parent's regions. */
  readonly parentMap?: Buffer;
  /** The parent's data blobs the plan reads (`planOverlay`), sealed, by their index in the parent's map. */
  readonly parentBlobs: readonly {
    readonly index: number;
    readonly compression: number;
    readonly plainLength: number;
    readonly sealed: Buffer;
  }[];
}

/** `bytesRead`: new pages read and parent blobs opened; `length`: the region's. */
export interface OverlayResult extends PagesResult {
  readonly length: number;
}

/** Cuts a file by content from `start` (a cut point) until the first cut past `softEnd`. */
export interface ChunksTask {
  readonly kind: 'chunks';
  readonly path: string;
  /** Where the file's bytes start in `path`, and how many there are (else: to its end). */
  readonly base?: number;
  readonly size?: number;
  readonly start: number;
  readonly softEnd: number;
  /** Ids already in the archive, e.g. the parent's chunks of this file (`sharedSortedIds`). */
  readonly known?: Buffer;
}

export interface ChunksResult {
  readonly chunks: { readonly id: Buffer; readonly length: number }[];
  /** Only for chunks not in `known` and not repeated within the task. */
  readonly blobs: SealedBlob[];
  /** Where the next task starts. */
  readonly end: number;
  readonly eof: boolean;
}

/** Reads whole small files and bundles the ones whose hash differs from the parent's. */
export interface SmallTask {
  readonly kind: 'small';
  readonly files: readonly {
    readonly path: string;
    /** Where the file's bytes start in `path`, and how many there are (else: all of it). */
    readonly base?: number;
    readonly size?: number;
    readonly parentHash?: Buffer;
    /** Check each page's data checksum as it is read (a relation file). */
    readonly check?: PageCheckTask;
  }[];
}

export interface SmallResult {
  readonly files: /** Not read: why (`skipReason`). */
  (
    | { readonly missing: true; readonly why: string }
    | {
        readonly missing?: false;
        readonly hash: Buffer;
        readonly size: number;
        /** Which of `bundles` holds the file; -1 when equal to its parent's or empty. */
        readonly bundle: number;
        readonly offset: number;
        /** With `check`: the block numbers of the pages whose checksum is wrong. */
        readonly corrupt?: number[];
      }
  )[];
  /** Bundles of about `bundleSize` each. */
  readonly bundles: SealedBlob[];
}

/** A write of part of a blob's plaintext into a target file. */
export interface BlobWrite {
  readonly path: string;
  readonly fileOffset: number;
  readonly blobOffset: number;
  readonly length: number;
  /** The file's bytes there are zeros (a new file, created at its size): all-zero blocks are left as holes. */
  readonly sparse?: boolean;
}

/** Opens sealed blobs from one ranged pack read and writes their pieces to files. */
export interface WriteTask {
  readonly kind: 'write';
  /** The ranged read, or where the worker reads it itself (a pack on this machine's disk). */
  readonly sealed?: Buffer;
  readonly file?: { readonly path: string; readonly offset: number; readonly length: number };
  readonly blobs: readonly {
    readonly at: number;
    readonly length: number;
    readonly id: Buffer;
    readonly compression: number;
    readonly plainLength: number;
    readonly writes: readonly BlobWrite[];
  }[];
}

export interface WriteResult {
  readonly bytesWritten: number;
  /** Ids of blobs that failed authentication or their id check (nothing written from them). */
  readonly corrupt: { readonly id: Buffer; readonly reason: string }[];
}

/** Delta restore: which parts of an existing file differ from what the snapshot holds. */
export interface CompareTask {
  readonly kind: 'compare';
  readonly path: string;
  /** Whole-file hash (small files). */
  readonly fileHash?: Buffer;
  /** Chunks at file offsets, compared by id. */
  readonly chunks?: readonly { readonly offset: number; readonly length: number; readonly id: Buffer }[];
  /** A page map region starting at `regionOffset`. */
  readonly pageMap?: { readonly regionOffset: number; readonly plain: Buffer };
}

export interface CompareResult {
  /** File byte ranges [offset, length] that must be rewritten. */
  readonly differ: [number, number][];
  readonly bytesRead: number;
}

export type Task = PagesTask | OverlayTask | ChunksTask | SmallTask | WriteTask | CompareTask;

/** The reason a write task gives for every blob of a pack that does not exist. */
export const PACK_MISSING = 'pack is missing';
