import { type ChunkerParams, DEFAULT_CHUNKER } from '../chunking/gear-cdc.js';
import { zstdAvailable } from '../pack/zstd-codec.js';

export const FORMAT_VERSION = 1;

/** The `config` object (sealed): what every reader and writer of the archive agrees on. */
export interface ArchiveConfig {
  readonly version: typeof FORMAT_VERSION;
  /** 32 random bytes, hex. */
  readonly id: string;
  readonly created: string;
  readonly chunker: ChunkerParams;
  /** Relation files are cut into pages of this size (PostgreSQL's BLCKSZ). */
  readonly pageSize: number;
  /** Pages per superblock: the unit hashed first, and stored whole when all new. */
  readonly superblockPages: number;
  /** Pages per region: one page map blob describes one region of a relation file. */
  readonly regionPages: number;
  /** Files smaller than this are stored whole, several to a bundle blob. */
  readonly smallFileMax: number;
  /** A bundle blob is closed once it reaches this size. */
  readonly bundleSize: number;
  /** A pack is closed once its blobs reach this size. */
  readonly packSize: number;
  /** Compression of new blobs: `zstd` (level 1; the default where zstd-napi is installed) or `lz4`. */
  readonly compression: 'zstd' | 'lz4';
}

export interface ArchiveConfigOptions {
  readonly chunker?: ChunkerParams;
  readonly packSize?: number;
  readonly compression?: 'zstd' | 'lz4';
  /**
   * How relation files are cut, for tests that need many regions and superblocks in a
   * small file. Default: PostgreSQL's 8 KiB pages, 16 to a superblock, 2048 to a region.
   */
  readonly pageLayout?: Pick<ArchiveConfig, 'pageSize' | 'superblockPages' | 'regionPages'>;
}

export function newConfig(id: string, options: ArchiveConfigOptions = {}): ArchiveConfig {
  return {
    version: FORMAT_VERSION,
    id,
    created: new Date().toISOString(),
    chunker: options.chunker ?? DEFAULT_CHUNKER,
    pageSize: 8192,
    superblockPages: 16,
    regionPages: 2048,
    ...options.pageLayout,
    smallFileMax: 64 * 1024,
    bundleSize: 1024 * 1024,
    // 16 MiB: one pack filling and one saving keep a backup inside the 300 MB budget.
    packSize: options.packSize ?? 16 * 1024 * 1024,
    compression: options.compression ?? (zstdAvailable ? 'zstd' : 'lz4'),
  };
}
