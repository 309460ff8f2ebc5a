import { NONCE_BYTES, seal, sealInPlace, TAG_BYTES, unseal, unsealInPlace } from '../crypto/seal.js';
import { ArchiveError, CorruptDataError } from '../errors.js';
import { compressPieces, uncompressPieces } from '../pack/lz4-pieces.js';
import {
  ZstdFrameWriter,
  zstdAvailable,
  zstdCompressBound,
  zstdCompressInto,
  zstdDecompressInto,
} from '../pack/zstd-codec.js';
import type { WalFileName } from './wal-names.js';

/** What a WAL object says of its file, readable without its body. */
export interface WalHeader {
  readonly name: WalFileName;
  /** The server's `wal_segment_size` (16 MiB by default). */
  readonly segmentSize: number;
  /** Bytes of WAL held: a segment's size, a partial's received prefix, a history file's length. */
  readonly contentBytes: number;
  readonly partial: boolean;
  /** ISO 8601, the pull side's clock. */
  readonly firstReceivedAt: string;
  readonly lastReceivedAt: string;
}

type BodyCompression = 'none' | 'lz4' | 'zstd';

/** The sealed header's JSON: the public header, the format version and how the body is compressed. */
interface StoredWalHeader extends WalHeader {
  readonly version: 1;
  readonly compression: BodyCompression;
}

/*
 * A WAL object (docs/repository-format.md § 15):
 *   magic "PBWAL\0\0\1" (8) ‖ u32le H ‖ sealed header (H bytes) ‖ sealed body
 * The header is sealed with AAD `pullback wal header\0<object name>`, the body with
 * `pullback wal body\0<object name>\0<the header's GCM tag>`: either opens only under
 * its own name, and a body only with the header it was written with (a partial is
 * rewritten under one name, so halves of two versions must not pair up).
 */
const MAGIC = Buffer.from('PBWAL\0\0\x01', 'latin1');
const PREFIX_BYTES = MAGIC.length + 4;
/** Headers are about 300 bytes; anything much larger is damage, not a header. */
const MAX_HEADER_BYTES = 64 * 1024;
/** Bytes loaded to read a header: enough for any real one in one range request. */
export const WAL_HEADER_PROBE_BYTES = 4096;

function headerAad(objectName: string): Buffer {
  return Buffer.from(`pullback wal header\0${objectName}`);
}

function bodyAad(objectName: string, sealedHeader: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`pullback wal body\0${objectName}\0`),
    sealedHeader.subarray(sealedHeader.length - TAG_BYTES),
  ]);
}

function corrupt(objectName: string, reason: string, hint?: string): CorruptDataError {
  return new CorruptDataError(`wal object ${objectName}: ${reason}`, hint === undefined ? {} : { hint });
}

/**
 * Seals `content` (already trimmed, for a partial) as the object `objectName`.
 * `compression` is the archive's; zstd falls back to lz4 where zstd-napi is missing,
 * since WAL must be stored whatever the host.
 */
export function encodeWalObject(
  encryptionKey: Buffer,
  objectName: string,
  header: WalHeader,
  content: Buffer,
  compression: 'zstd' | 'lz4',
): Buffer {
  return new WalObjectEncoder().encode(encryptionKey, objectName, header, content, compression);
}

/** Content is read in pieces of this size by `encodeFrom`. */
const READ_PIECE = 256 * 1024;

/**
 * Where the body is first written in the kept buffer: after room for any sealed header a
 * reader accepts, and its box's nonce; moved up to the header's end once that is sealed.
 */
const BODY_AT = PREFIX_BYTES + MAX_HEADER_BYTES + NONCE_BYTES;

/**
 * Builds WAL objects (docs/repository-format.md § 15) in one buffer it keeps: the body
 * is compressed into it, sealed in place and the header put before it, so that
 * storing a partial every few hundred milliseconds allocates nothing of its size. Each
 * `encode` returns a view of that buffer, overwritten by the next: one store at a time
 * per encoder.
 */
export class WalObjectEncoder {
  private buffer: Buffer | undefined;
  private frameWriter: ZstdFrameWriter | undefined;
  private piece: Buffer | undefined;

  /** `contentBytes`: room for that much content from the start (a segment's size), not grown into. */
  constructor(contentBytes = 0) {
    if (contentBytes > 0) this.room(contentBytes, 'zstd');
  }

  encode(
    encryptionKey: Buffer,
    objectName: string,
    header: WalHeader,
    content: Buffer,
    compression: 'zstd' | 'lz4',
  ): Buffer {
    if (content.length !== header.contentBytes) {
      throw new ArchiveError('corrupt', `wal object ${objectName}: content is not contentBytes long`);
    }
    const use = content.length <= 64 ? 'none' : compression === 'zstd' && zstdAvailable ? 'zstd' : 'lz4';
    const buffer = this.room(content.length, use);
    let stored: BodyCompression = 'none';
    let bodyBytes = content.length;
    if (use === 'zstd') {
      const packed = zstdCompressInto(content, buffer.subarray(BODY_AT));
      if (packed < content.length) [stored, bodyBytes] = ['zstd', packed];
    } else if (use === 'lz4') {
      const packed = compressPieces(content);
      if (packed.length < content.length) {
        [stored, bodyBytes] = ['lz4', packed.length];
        packed.copy(buffer, BODY_AT);
      }
    }
    if (stored === 'none') content.copy(buffer, BODY_AT);
    return this.finish(encryptionKey, objectName, header, stored, bodyBytes);
  }

  /**
   * `encode` of content read piece by piece (`readAt` fills its buffer from that
   * position of the content): with zstd, the content is never held whole, only the
   * object. Where zstd is missing, it is read whole and compressed with lz4.
   */
  async encodeFrom(
    encryptionKey: Buffer,
    objectName: string,
    header: WalHeader,
    readAt: (into: Buffer, position: number) => Promise<void>,
    compression: 'zstd' | 'lz4',
  ): Promise<Buffer> {
    const length = header.contentBytes;
    const use = length <= 64 ? 'none' : compression === 'zstd' && zstdAvailable ? 'zstd' : 'lz4';
    if (use === 'lz4') {
      const content = Buffer.allocUnsafe(length);
      await readAt(content, 0);
      return this.encode(encryptionKey, objectName, header, content, compression);
    }
    const buffer = this.room(length, use);
    if (use === 'zstd') {
      this.frameWriter ??= new ZstdFrameWriter();
      this.frameWriter.begin(length);
      this.piece ??= Buffer.allocUnsafe(READ_PIECE);
      let end = BODY_AT;
      for (let position = 0; position < length; position += READ_PIECE) {
        const piece = this.piece.subarray(0, Math.min(READ_PIECE, length - position));
        await readAt(piece, position);
        end = this.frameWriter.write(piece, buffer, end, position + piece.length === length);
      }
      if (end - BODY_AT < length)
        return this.finish(encryptionKey, objectName, header, 'zstd', end - BODY_AT);
    }
    // Stored as it is (it did not compress): read into the body's place.
    await readAt(buffer.subarray(BODY_AT, BODY_AT + length), 0);
    return this.finish(encryptionKey, objectName, header, 'none', length);
  }

  /** Seals the body at `BODY_AT` and puts the sealed header before it. */
  private finish(
    encryptionKey: Buffer,
    objectName: string,
    header: WalHeader,
    stored: BodyCompression,
    bodyBytes: number,
  ): Buffer {
    const buffer = this.buffer!;
    const storedHeader: StoredWalHeader = {
      version: 1,
      name: header.name,
      segmentSize: header.segmentSize,
      contentBytes: header.contentBytes,
      partial: header.partial,
      firstReceivedAt: header.firstReceivedAt,
      lastReceivedAt: header.lastReceivedAt,
      compression: stored,
    };
    const sealedHeader = seal(
      encryptionKey,
      Buffer.from(JSON.stringify(storedHeader)),
      headerAad(objectName),
    );
    MAGIC.copy(buffer, 0);
    buffer.writeUInt32LE(sealedHeader.length, MAGIC.length);
    sealedHeader.copy(buffer, PREFIX_BYTES);
    const bodyStart = PREFIX_BYTES + sealedHeader.length + NONCE_BYTES;
    buffer.copyWithin(bodyStart, BODY_AT, BODY_AT + bodyBytes);
    const end = sealInPlace(encryptionKey, buffer, bodyStart, bodyBytes, bodyAad(objectName, sealedHeader));
    return buffer.subarray(0, end);
  }

  /** The kept buffer, grown to fit `contentBytes` of content compressed as `use` would. */
  private room(contentBytes: number, use: 'zstd' | 'lz4' | 'none'): Buffer {
    const body =
      use === 'zstd' && zstdAvailable
        ? Math.max(contentBytes, zstdCompressBound(contentBytes))
        : contentBytes;
    const needed = BODY_AT + body + TAG_BYTES;
    // Unsafe: every byte returned is written first; pages never written are never made resident.
    if (this.buffer === undefined || this.buffer.length < needed) this.buffer = Buffer.allocUnsafe(needed);
    return this.buffer;
  }
}

/**
 * How many leading bytes of the object hold its header (prefix included), read from
 * the clear prefix in `start` (at least 12 bytes of the object's start).
 */
export function walHeaderEnd(objectName: string, start: Buffer): number {
  if (start.length < PREFIX_BYTES || !start.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw corrupt(objectName, 'not a wal object (bad magic)');
  }
  const length = start.readUInt32LE(MAGIC.length);
  if (length > MAX_HEADER_BYTES) throw corrupt(objectName, `header length ${length} out of range`);
  return PREFIX_BYTES + length;
}

/** Opens the header from the object's first bytes (at least `walHeaderEnd` of them). */
export function openWalHeader(encryptionKey: Buffer, objectName: string, start: Buffer): WalHeader {
  return publicHeader(openStoredHeader(encryptionKey, objectName, start).header);
}

function openStoredHeader(
  encryptionKey: Buffer,
  objectName: string,
  start: Buffer,
): { header: StoredWalHeader; sealedHeader: Buffer; end: number } {
  const end = walHeaderEnd(objectName, start);
  if (start.length < end) throw corrupt(objectName, 'truncated header');
  const sealedHeader = start.subarray(PREFIX_BYTES, end);
  const plain = unseal(encryptionKey, sealedHeader, headerAad(objectName));
  if (plain === undefined) {
    throw corrupt(
      objectName,
      'header fails authentication',
      'the object is damaged, or was moved or renamed (each wal object opens only under its own name)',
    );
  }
  return { header: checkHeader(objectName, plain), sealedHeader, end };
}

function checkHeader(objectName: string, plain: Buffer): StoredWalHeader {
  let value: unknown;
  try {
    value = JSON.parse(plain.toString('utf8'));
  } catch {
    throw corrupt(objectName, 'header is not json');
  }
  const header = value as Partial<StoredWalHeader> | null;
  const valid =
    header !== null &&
    typeof header === 'object' &&
    header.version === 1 &&
    typeof header.name === 'string' &&
    Number.isSafeInteger(header.segmentSize) &&
    Number.isSafeInteger(header.contentBytes) &&
    header.contentBytes! >= 0 &&
    typeof header.partial === 'boolean' &&
    typeof header.firstReceivedAt === 'string' &&
    typeof header.lastReceivedAt === 'string' &&
    (header.compression === 'none' || header.compression === 'lz4' || header.compression === 'zstd');
  if (!valid) throw corrupt(objectName, 'header has unknown fields or version');
  return header as StoredWalHeader;
}

/** Public fields only: the version and compression are the object's business. */
function publicHeader(header: StoredWalHeader): WalHeader {
  return {
    name: header.name,
    segmentSize: header.segmentSize,
    contentBytes: header.contentBytes,
    partial: header.partial,
    firstReceivedAt: header.firstReceivedAt,
    lastReceivedAt: header.lastReceivedAt,
  };
}

/**
 * Opens a whole object: its header and content. A partial's content comes back padded
 * with zeros to the segment size (its unwritten space), as PostgreSQL expects a
 * segment file to be. With `into` (at least the segment's size), the content is
 * written there and returned as a view of it, and with `inPlace` the body is
 * decrypted where it lies in `object` (which is then spoilt): a caller fetching
 * segment after segment reuses its buffers instead of faulting in fresh pages for each.
 */
export function decodeWalObject(
  encryptionKey: Buffer,
  objectName: string,
  object: Buffer,
  options: { into?: Buffer; inPlace?: boolean } = {},
): { header: WalHeader; content: Buffer } {
  const { header, sealedHeader, end } = openStoredHeader(encryptionKey, objectName, object);
  const aad = bodyAad(objectName, sealedHeader);
  const body =
    options.inPlace === true
      ? unsealInPlace(encryptionKey, object, end, object.length, aad)
      : unseal(encryptionKey, object.subarray(end), aad);
  if (body === undefined) {
    throw corrupt(
      objectName,
      'body fails authentication',
      'the object is damaged, or was moved or renamed (each wal object opens only under its own name)',
    );
  }
  const padTo = header.partial ? header.segmentSize : header.contentBytes;
  if (padTo < header.contentBytes) throw corrupt(objectName, 'content longer than its segment');
  let content: Buffer;
  try {
    content = decompressBody(body, header, padTo, options.into);
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw corrupt(objectName, 'body does not decompress to contentBytes');
  }
  return { header: publicHeader(header), content };
}

function decompressBody(body: Buffer, header: StoredWalHeader, padTo: number, into?: Buffer): Buffer {
  if (header.compression === 'zstd') {
    // Into a buffer of the padded size (padding costs no second copy), zeroed only
    // past the content: a fresh zeroed 16 MiB buffer is new pages from the kernel,
    // and faulting them in cost twice the decompression.
    const out =
      into !== undefined && into.length >= padTo ? into.subarray(0, padTo) : Buffer.allocUnsafe(padTo);
    zstdDecompressInto(body, header.contentBytes, out);
    out.fill(0, header.contentBytes);
    return out;
  }
  const plain = header.compression === 'lz4' ? uncompressPieces(body, header.contentBytes) : body;
  if (plain.length !== header.contentBytes) throw new RangeError('wrong length');
  if (padTo === plain.length) return plain;
  const out = Buffer.alloc(padTo);
  plain.copy(out, 0);
  return out;
}

const ZERO_BLOCK = Buffer.alloc(64 * 1024);

/**
 * A partial's received prefix: the bytes up to the last non-zero one. Every WAL page
 * starts with a non-zero header, so trailing zeros are space not yet written (which
 * pg_receivewal pre-allocates), never WAL.
 */
export function receivedPrefix(content: Buffer): Buffer {
  let end = content.length;
  // Whole zero blocks first, compared natively; then byte by byte in the last one.
  while (
    end >= ZERO_BLOCK.length &&
    content.compare(ZERO_BLOCK, 0, ZERO_BLOCK.length, end - ZERO_BLOCK.length, end) === 0
  ) {
    end -= ZERO_BLOCK.length;
  }
  while (end > 0 && content[end - 1] === 0) end--;
  return content.subarray(0, end);
}
