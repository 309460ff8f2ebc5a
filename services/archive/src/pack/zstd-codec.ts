import { createRequire } from 'node:module';
import { ArchiveError } from '../errors.js';

/*
 * zstd-napi is an optional dependency: it has no prebuilt binary for every platform
 * and builds with node-gyp (a C++ compiler) when it has none. Without it, new archives
 * use lz4, and an archive that holds zstd blobs says plainly what is missing instead of
 * reporting them as corrupt. Its types are declared here, the part used, so that the
 * package also builds where it could not be installed.
 */
interface ZstdModule {
  Compressor: new () => {
    setParameters(parameters: { compressionLevel: number; checksumFlag: boolean }): void;
    compress(plain: Buffer): Buffer;
  };
  Decompressor: new () => { decompress(frame: Buffer): Buffer };
}
interface ZstdBindingModule {
  /** Returns the length written into `target`; throws when the frame does not fit. */
  DCtx: new () => { decompress(target: Buffer, frame: Buffer): number };
  /** `compress2` returns the length written into `target`; throws when it does not fit. */
  CCtx: new () => {
    setParameter(parameter: number, value: number): void;
    compress2(target: Buffer, plain: Buffer): number;
    reset(directive: number): void;
    setPledgedSrcSize(size: number): void;
    /** Returns [bytes left to flush, bytes written, bytes read]. */
    compressStream2(target: Buffer, plain: Buffer, end: number): [number, number, number];
  };
  CParameter: { compressionLevel: number; checksumFlag: number };
  EndDirective: { continue: number; end: number };
  ResetDirective: { sessionOnly: number };
  compressBound(plainLength: number): number;
}
type Compressor = InstanceType<ZstdModule['Compressor']>;
type Decompressor = InstanceType<ZstdModule['Decompressor']>;
type DecompressionContext = InstanceType<ZstdBindingModule['DCtx']>;
type CompressionContext = InstanceType<ZstdBindingModule['CCtx']>;

function loadZstd(): { zstd: ZstdModule; binding: ZstdBindingModule } | undefined {
  try {
    const require = createRequire(import.meta.url);
    return {
      zstd: require('zstd-napi') as ZstdModule,
      binding: require('zstd-napi/binding.js') as ZstdBindingModule,
    };
  } catch {
    return undefined;
  }
}

const loaded = loadZstd();
const zstd = loaded?.zstd;

/** Whether zstd can be used here. */
export const zstdAvailable = zstd !== undefined;

let compressor: Compressor | undefined;
let decompressor: Decompressor | undefined;
let context: DecompressionContext | undefined;
let compressionContext: CompressionContext | undefined;

function requireZstd(): ZstdModule {
  return requireLoaded().zstd;
}

function requireLoaded(): NonNullable<typeof loaded> {
  if (loaded === undefined) {
    throw new ArchiveError(
      'unsupported-version',
      'this archive holds zstd-compressed data and zstd-napi is not installed',
      {
        hint: 'install it with `npm install zstd-napi` (it builds with a C++ compiler when no prebuilt binary fits)',
      },
    );
  }
  return loaded;
}

/**
 * Compression 2: one zstd frame (level 1) of the whole plaintext. Level 1 because it
 * is the fastest: on pgbench pages it compresses 37x at 1.4 GB/s per core, against
 * lz4's 15x at 2.4 GB/s, and decompresses at 2.5 GB/s against 3.0. The frame carries
 * zstd's content checksum (4 bytes, XXH64, checked by every decompression): it lets
 * restore trust a decompressed blob without hashing it again (see `openBlob`).
 */
export function zstdCompress(plain: Buffer): Buffer {
  if (!compressor) {
    compressor = new (requireZstd().Compressor)();
    compressor.setParameters({ compressionLevel: 1, checksumFlag: true });
  }
  return compressor.compress(plain);
}

/** The most bytes `zstdCompressInto` can write for `plainLength` bytes. */
export function zstdCompressBound(plainLength: number): number {
  return requireLoaded().binding.compressBound(plainLength);
}

/**
 * `zstdCompress` into `out` (at least `zstdCompressBound` long): the same frame, written
 * where the caller keeps it; returns its length. The WAL receiver compresses a segment
 * every few hundred milliseconds: a fresh 16 MiB result each time leaves the allocator
 * holding tens of MB it cannot give back.
 */
export function zstdCompressInto(plain: Buffer, out: Buffer): number {
  compressionContext ??= levelOneContext();
  return compressionContext.compress2(out, plain);
}

function levelOneContext(): CompressionContext {
  const { binding } = requireLoaded();
  const created = new binding.CCtx();
  created.setParameter(binding.CParameter.compressionLevel, 1);
  created.setParameter(binding.CParameter.checksumFlag, 1);
  return created;
}

/**
 * Writes one zstd frame (level 1, checksummed, as `zstdCompress`) of a plaintext given
 * piece by piece, into a buffer the caller keeps: a WAL segment is compressed from its
 * file without being held whole. One frame at a time per writer.
 */
export class ZstdFrameWriter {
  private readonly context = levelOneContext();

  /** Starts a frame of `plainLength` bytes (which its header records). */
  begin(plainLength: number): void {
    const { binding } = requireLoaded();
    this.context.reset(binding.ResetDirective.sessionOnly);
    this.context.setPledgedSrcSize(plainLength);
  }

  /**
   * Compresses `piece` into `out` from `at` (room to `zstdCompressBound` of the whole
   * plaintext); `last` ends the frame. Returns where the frame now ends in `out`.
   */
  write(piece: Buffer, out: Buffer, at: number, last: boolean): number {
    const { binding } = requireLoaded();
    const end = last ? binding.EndDirective.end : binding.EndDirective.continue;
    let read = 0;
    for (;;) {
      const [left, written, consumed] = this.context.compressStream2(
        out.subarray(at),
        piece.subarray(read),
        end,
      );
      at += written;
      read += consumed;
      if (read === piece.length && (!last || left === 0)) return at;
      if (written === 0 && consumed === 0) throw new RangeError('zstd frame does not fit its buffer');
    }
  }
}

const ZSTD_MAGIC = 0xfd2fb528;

/** Whether a zstd frame says it carries a content checksum (its header's bit 2). */
export function zstdFrameHasChecksum(frame: Buffer): boolean {
  return frame.length > 4 && frame.readUInt32LE(0) === ZSTD_MAGIC && (frame[4]! & 0x04) !== 0;
}

/** Throws ArchiveError when zstd is missing (not corruption); RangeError on a bad frame. */
export function zstdDecompress(body: Buffer, plainLength: number): Buffer {
  decompressor ??= new (requireZstd().Decompressor)();
  const plain = decompressor.decompress(body);
  if (plain.length !== plainLength) throw new RangeError('wrong length');
  return plain;
}

/**
 * Decompresses into `out` (at least `plainLength` long) and returns the plaintext as a
 * view of it. Restore opens thousands of blobs a second: a fresh 128 KiB result each
 * time costs page faults and collections, where one reused buffer costs nothing.
 */
export function zstdDecompressInto(body: Buffer, plainLength: number, out: Buffer): Buffer {
  context ??= new (requireLoaded().binding.DCtx)();
  const target = out.subarray(0, plainLength);
  // A frame that would not fit fails here (dstSize_tooSmall): never a silent overrun.
  if (context.decompress(target, body) !== plainLength) throw new RangeError('wrong length');
  return target;
}
