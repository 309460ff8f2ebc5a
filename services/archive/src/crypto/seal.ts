import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256-GCM with a random 96-bit nonce: `nonce(12) ‖ ciphertext ‖ tag(16)`. */
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * Encrypts and authenticates `plaintext`; `aad` is authenticated but not stored, so a
 * sealed box only opens under the same context (a blob under its own id, a header as
 * a header), which makes a blob moved or swapped by mistake fail loudly.
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const out = Buffer.allocUnsafe(plaintext.length + SEAL_OVERHEAD);
  nonce.copy(out, 0);
  let at = NONCE_BYTES;
  at += cipher.update(plaintext).copy(out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}

/**
 * `seal` in place: the plaintext at `buffer[start, start + length)` becomes a sealed box
 * at `buffer[start - NONCE_BYTES, start + length + TAG_BYTES)`, the same bytes `seal`
 * would return; returns the box's end. It encrypts in small pieces, each written back
 * where it was read, so that sealing megabytes allocates no buffer of their size.
 */
export function sealInPlace(key: Buffer, buffer: Buffer, start: number, length: number, aad: Buffer): number {
  if (start < NONCE_BYTES || start + length + TAG_BYTES > buffer.length) {
    throw new RangeError('no room around the plaintext for the nonce and tag');
  }
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  nonce.copy(buffer, start - NONCE_BYTES);
  const end = start + length;
  // GCM writes as much as it reads, never more: the written end never passes the read one.
  let written = start;
  for (let read = start; read < end; read += SEAL_PIECE) {
    written += cipher.update(buffer.subarray(read, Math.min(end, read + SEAL_PIECE))).copy(buffer, written);
  }
  written += cipher.final().copy(buffer, written);
  return written + cipher.getAuthTag().copy(buffer, written);
}

/** Small enough for the allocator to reuse one piece's output for the next. */
const SEAL_PIECE = 64 * 1024;

/**
 * `unseal` in place: the box at `buffer[start, end)` is decrypted where it lies, in
 * small pieces as `sealInPlace` encrypts; returns the plaintext as a view of `buffer`,
 * or `undefined` when the box fails authentication (the bytes are then garbage).
 */
export function unsealInPlace(
  key: Buffer,
  buffer: Buffer,
  start: number,
  end: number,
  aad: Buffer,
): Buffer | undefined {
  if (end - start < SEAL_OVERHEAD) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, buffer.subarray(start, start + NONCE_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(buffer.subarray(end - TAG_BYTES, end));
  const from = start + NONCE_BYTES;
  const to = end - TAG_BYTES;
  let written = from;
  for (let read = from; read < to; read += SEAL_PIECE) {
    written += decipher.update(buffer.subarray(read, Math.min(to, read + SEAL_PIECE))).copy(buffer, written);
  }
  try {
    written += decipher.final().copy(buffer, written);
  } catch {
    return undefined;
  }
  return buffer.subarray(from, written);
}

/** Returns the plaintext, or `undefined` when the box fails authentication. */
export function unseal(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? body : Buffer.concat([body, tail]);
  } catch {
    return undefined;
  }
}
