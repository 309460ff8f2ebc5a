import { ID_BYTES } from '../crypto/hash.js';

const MAGIC = Buffer.from('PBCM');
const VERSION = 1;

export interface ChunkRef {
  readonly id: Buffer;
  readonly length: number;
}

/** Plaintext: "PBCM", u8 version, u32le count, count × (32-byte id, u32le length). */
export function encodeChunkMap(chunks: readonly ChunkRef[]): Buffer {
  const out = Buffer.allocUnsafe(9 + chunks.length * (ID_BYTES + 4));
  MAGIC.copy(out, 0);
  out.writeUInt8(VERSION, 4);
  let at = out.writeUInt32LE(chunks.length, 5);
  for (const chunk of chunks) {
    at += chunk.id.copy(out, at);
    at = out.writeUInt32LE(chunk.length, at);
  }
  return out;
}

export function decodeChunkMap(plain: Buffer): ChunkRef[] {
  if (plain.length < 9 || !plain.subarray(0, 4).equals(MAGIC) || plain.readUInt8(4) !== VERSION) {
    throw new RangeError('not a chunk map');
  }
  const count = plain.readUInt32LE(5);
  if (plain.length !== 9 + count * (ID_BYTES + 4)) throw new RangeError('malformed chunk map');
  const chunks: ChunkRef[] = [];
  for (let i = 0, at = 9; i < count; i++, at += ID_BYTES + 4) {
    chunks.push({ id: plain.subarray(at, at + ID_BYTES), length: plain.readUInt32LE(at + ID_BYTES) });
  }
  return chunks;
}

/**
 * Where a long chunk list is cut into maps: after a chunk whose id starts with a zero
 * byte (content-defined, so an insertion changes only the maps around it), and at
 * most every 4096 chunks.
 */
export function endsChunkMap(id: Buffer, countSoFar: number): boolean {
  return countSoFar >= 4096 || (countSoFar >= 64 && id[0] === 0);
}
