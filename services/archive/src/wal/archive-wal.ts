import type { FileHandle } from 'node:fs/promises';
import { isNotFound } from '@pullback/storage';
import { ArchiveError, throwIfAborted } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { readAll, readAllInto } from '../repository/stream-bytes.js';
import { checkSegmentSize, type WalFileName, walName } from './wal-names.js';
import {
  decodeWalObject,
  openWalHeader,
  receivedPrefix,
  WAL_HEADER_PROBE_BYTES,
  type WalHeader,
  WalObjectEncoder,
  walHeaderEnd,
} from './wal-object.js';
import { walObjectName } from './wal-paths.js';
import type { WalReadBuffers } from './wal-read-buffers.js';

/*
 * WAL is written without the archive lock: it arrives every second, also while a
 * backup or prune holds the lock for minutes. That is safe because no other command
 * writes under wal/, and a WAL object is never rewritten with other content: a
 * segment's name fixes its bytes (the same segment stored twice is the same WAL), and
 * the only object replaced is a partial, which only grows. A reader sees a whole old
 * or a whole new object (the backends save atomically), and each opens on its own.
 * Removal (retention) only takes segments no snapshot needs. Prune removes only the fs
 * driver's temporaries whose owner is dead or that are older than its lock, never one
 * being written now.
 */

export interface WalFileTimes {
  /** The server's `wal_segment_size`. */
  readonly segmentSize: number;
  /** True for the segment being written: `content` is then its received prefix. */
  readonly partial: boolean;
  readonly firstReceivedAt: string;
  readonly lastReceivedAt: string;
}

export interface WalOperationOptions {
  readonly signal?: AbortSignal;
}

export interface StoreWalOptions extends WalOperationOptions {
  /**
   * Builds the object in this encoder's kept buffer (the WAL receiver's, storing a
   * partial every few hundred milliseconds) instead of fresh buffers; its stores must
   * not overlap. Default: a fresh encoder.
   */
  readonly encoder?: WalObjectEncoder;
}

function loadOptions(signal: AbortSignal | undefined) {
  return signal ? { signal } : {};
}

/**
 * Stores a WAL file: a complete segment (`content` is `segmentSize` bytes), a partial
 * (its bytes so far; trailing zeros, unwritten space, are not stored) or a history
 * file. Storing a complete segment then removes its partial: after, so that some
 * object holds the WAL at every moment.
 */
export async function archiveWalFile(
  archive: Archive,
  stream: string,
  name: WalFileName,
  content: Buffer,
  times: WalFileTimes,
  options: StoreWalOptions = {},
): Promise<void> {
  const target = walTarget(stream, name, content.length, times);
  const held = target.partial ? receivedPrefix(content) : content;
  throwIfAborted(options.signal);
  const object = (options.encoder ?? new WalObjectEncoder()).encode(
    archive.keys.encryption,
    target.objectName,
    headerOf(target, held.length, times),
    held,
    archive.config.compression,
  );
  await saveWalObject(archive, stream, target, object, options.signal);
}

/**
 * `archiveWalFile` of the first `length` bytes of an open file (the WAL receiver's
 * spool): read in pieces as it is compressed, never held whole. The bytes must not
 * change while they are read (pg_receivewal only appends after them).
 */
export async function archiveWalFileAt(
  archive: Archive,
  stream: string,
  name: WalFileName,
  file: FileHandle,
  length: number,
  times: WalFileTimes,
  options: StoreWalOptions = {},
): Promise<void> {
  const target = walTarget(stream, name, length, times);
  const readAt = async (into: Buffer, position: number) => {
    for (let at = 0; at < into.length; ) {
      const { bytesRead } = await file.read(into, at, into.length - at, position + at);
      if (bytesRead === 0)
        throw new ArchiveError('corrupt', `wal file ${name} ended before its ${length} bytes`);
      at += bytesRead;
    }
  };
  const held = target.partial ? await receivedLength(readAt, length) : length;
  throwIfAborted(options.signal);
  const object = await (options.encoder ?? new WalObjectEncoder()).encodeFrom(
    archive.keys.encryption,
    target.objectName,
    headerOf(target, held, times),
    readAt,
    archive.config.compression,
  );
  await saveWalObject(archive, stream, target, object, options.signal);
}

interface WalTarget {
  readonly parsed: ReturnType<typeof walName>;
  readonly segmentSize: number;
  readonly partial: boolean;
  readonly objectName: string;
}

/** Where a WAL file of `length` bytes goes, or why it cannot. */
function walTarget(stream: string, name: WalFileName, length: number, times: WalFileTimes): WalTarget {
  const parsed = walName(name);
  const segmentSize = checkSegmentSize(times.segmentSize);
  const partial = times.partial || parsed.partial;
  const objectName = walObjectName(stream, parsed.name, partial);
  if (parsed.kind === 'history' && partial) {
    throw new ArchiveError('bad-wal-name', `a history file cannot be partial: ${name}`);
  }
  if (parsed.kind === 'segment' && !partial && length !== segmentSize) {
    throw new ArchiveError(
      'bad-wal-name',
      `wal segment ${name} of stream ${stream} is ${length} bytes, not its segment size ${segmentSize}`,
      { hint: 'store a segment still being written as partial' },
    );
  }
  if (partial && length > segmentSize) {
    throw new ArchiveError(
      'bad-wal-name',
      `partial wal segment ${name} of stream ${stream} is longer than its segment size ${segmentSize}`,
    );
  }
  return { parsed, segmentSize, partial, objectName };
}

function headerOf(target: WalTarget, contentBytes: number, times: WalFileTimes): WalHeader {
  return {
    name: target.parsed.name,
    segmentSize: target.segmentSize,
    contentBytes,
    partial: target.partial,
    firstReceivedAt: times.firstReceivedAt,
    lastReceivedAt: times.lastReceivedAt,
  };
}

async function saveWalObject(
  archive: Archive,
  stream: string,
  target: WalTarget,
  object: Buffer,
  signal: AbortSignal | undefined,
): Promise<void> {
  await archive.backend.save(target.objectName, object, loadOptions(signal));
  if (target.parsed.kind === 'segment' && !target.partial) {
    await archive.backend.remove(walObjectName(stream, target.parsed.name, true), loadOptions(signal));
  }
}

/** `receivedPrefix`'s length for the first `length` bytes read through `readAt`, read from the end. */
async function receivedLength(
  readAt: (into: Buffer, position: number) => Promise<void>,
  length: number,
): Promise<number> {
  const piece = Buffer.allocUnsafe(Math.min(length, 64 * 1024));
  for (let end = length; end > 0; ) {
    const start = Math.max(0, end - piece.length);
    const bytes = piece.subarray(0, end - start);
    await readAt(bytes, start);
    const held = receivedPrefix(bytes).length;
    if (held > 0) return start + held;
    end = start;
  }
  return 0;
}

export interface FetchWalOptions extends WalOperationOptions {
  /** Use the segment's partial when no complete segment is stored. Default: false. */
  readonly allowPartial?: boolean;
  /** Buffers to read and decode into (see `WalReadBuffers`); the content is a view of them. */
  readonly buffers?: WalReadBuffers;
}

/**
 * A WAL file's bytes and header, a partial padded with zeros to its segment size;
 * `undefined` when the archive does not hold it. A name with `.partial` asks for the
 * partial itself. Fails with CorruptDataError when the object does not authenticate.
 */
export async function fetchWalFile(
  archive: Archive,
  stream: string,
  name: WalFileName,
  options: FetchWalOptions = {},
): Promise<{ content: Buffer; header: WalHeader } | undefined> {
  const parsed = walName(name);
  const candidates = [walObjectName(stream, name)];
  if (parsed.kind === 'segment' && !parsed.partial && options.allowPartial === true) {
    candidates.push(walObjectName(stream, name, true));
  }
  for (const objectName of candidates) {
    const object = await loadIfPresent(
      archive,
      objectName,
      options.signal,
      undefined,
      options.buffers?.object,
    );
    if (object !== undefined)
      return decodeWalObject(
        archive.keys.encryption,
        objectName,
        object,
        options.buffers === undefined ? {} : { into: options.buffers.content, inPlace: true },
      );
  }
  return undefined;
}

export interface ReadWalHeaderOptions extends WalOperationOptions {
  /** Read the partial's header (as a name with `.partial` does). Default: false. */
  readonly partial?: boolean;
}

/** A WAL object's header, from one range read of its first bytes; `undefined` when absent. */
export async function readWalHeader(
  archive: Archive,
  stream: string,
  name: WalFileName,
  options: ReadWalHeaderOptions = {},
): Promise<WalHeader | undefined> {
  const objectName = walObjectName(stream, name, options.partial === true);
  let start = await loadIfPresent(archive, objectName, options.signal, WAL_HEADER_PROBE_BYTES);
  if (start === undefined) return undefined;
  const end = walHeaderEnd(objectName, start);
  if (end > start.length && start.length === WAL_HEADER_PROBE_BYTES) {
    start = await loadIfPresent(archive, objectName, options.signal, end);
    if (start === undefined) return undefined;
  }
  return openWalHeader(archive.keys.encryption, objectName, start);
}

async function loadIfPresent(
  archive: Archive,
  objectName: string,
  signal: AbortSignal | undefined,
  length?: number,
  kept?: { buffer: Buffer },
): Promise<Buffer | undefined> {
  try {
    const range = length === undefined ? undefined : { offset: 0, length };
    const stream = await archive.backend.load(objectName, range, loadOptions(signal));
    return await (kept === undefined ? readAll(stream) : readAllInto(stream, kept));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
