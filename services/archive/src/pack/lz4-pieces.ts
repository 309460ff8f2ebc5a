import { compressSync, uncompressSync } from 'lz4-napi';

/** Plaintext per piece: lz4 works on at most this much at a time. */
export const PIECE_BYTES = 128 * 1024;

/**
 * Compression 1: the plaintext cut into pieces of 128 KiB (the last may be shorter),
 * each stored as `u32le L ‖ L bytes`, the L bytes being an lz4 block with the piece's
 * length prepended as u32le (lz4_flex `compress_prepend_size`). Pieces keep each
 * native buffer small. (lz4-napi frees its output buffers in N-API finalizers, which
 * only run once V8 has collected them and the event loop has turned: threads that
 * compress a lot collect now and then, see `collectGarbage`.)
 */
export function compressPieces(plain: Buffer): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  for (let at = 0; at < plain.length; at += PIECE_BYTES) {
    const packed = compressSync(plain.subarray(at, at + PIECE_BYTES));
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(packed.length);
    parts.push(length, packed);
    size += 4 + packed.length;
  }
  return Buffer.concat(parts, size);
}

/** The plaintext of `compressPieces` output; throws when it is malformed. */
export function uncompressPieces(body: Buffer, plainLength: number): Buffer {
  if (body.length >= 4 && body.readUInt32LE(0) === body.length - 4) return uncompressSync(body.subarray(4));
  const out = Buffer.allocUnsafe(plainLength);
  let at = 0;
  let written = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw new RangeError('truncated piece length');
    const length = body.readUInt32LE(at);
    at += 4;
    if (at + length > body.length) throw new RangeError('truncated piece');
    const piece = uncompressSync(body.subarray(at, at + length));
    at += length;
    if (written + piece.length > plainLength) throw new RangeError('pieces longer than the blob');
    piece.copy(out, written);
    written += piece.length;
  }
  if (written !== plainLength) throw new RangeError('pieces shorter than the blob');
  return out;
}
