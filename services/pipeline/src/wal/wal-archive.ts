import type { FileHandle } from 'node:fs/promises';
import type { WalObjectEncoder } from '@pullback/archive';

/**
 * What the WAL receiver needs of the archive (docs/wal.md, "The archive's WAL"): to
 * store a spool file, and to know where a stream's WAL ends. `archiveWal` (archive-wal.ts)
 * is the archive's.
 */
export interface WalArchive {
  /** Stores a segment (whole), a partial (its received bytes) or a history file under `name`. */
  store(
    stream: string,
    name: string,
    content: Buffer,
    times: {
      readonly segmentSize: number;
      readonly partial: boolean;
      readonly firstReceivedAt: string;
      readonly lastReceivedAt: string;
    },
    /** `encoder`: build the object in its kept buffer (one store at a time through it). */
    options?: { signal?: AbortSignal; encoder?: WalObjectEncoder },
  ): Promise<void>;
  /**
   * `store` of the first `length` bytes of an open file, read as they are compressed
   * (never held whole); they must not change meanwhile.
   */
  storeFile(
    stream: string,
    name: string,
    file: FileHandle,
    length: number,
    times: {
      readonly segmentSize: number;
      readonly partial: boolean;
      readonly firstReceivedAt: string;
      readonly lastReceivedAt: string;
    },
    options?: { signal?: AbortSignal; encoder?: WalObjectEncoder },
  ): Promise<void>;
  /** A segment's bytes (a partial's padded with zeros to the segment size), or undefined when absent. */
  fetch(
    stream: string,
    name: string,
    options?: { allowPartial?: boolean; signal?: AbortSignal },
  ): Promise<Buffer | undefined>;
  /** Where the stream's WAL ends in the archive (its newest timeline), partial included. */
  end(
    stream: string,
    options?: { signal?: AbortSignal },
  ): Promise<{ readonly timeline: number; readonly lsn: string; readonly at: string } | undefined>;
}
