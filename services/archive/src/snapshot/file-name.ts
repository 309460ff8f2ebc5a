/*
 * File names are bytes on Linux, and not every byte string is UTF-8. Pullback keeps
 * names as JavaScript strings everywhere (trees, paths, comparisons) by decoding them
 * losslessly, as Python's "surrogateescape" does: valid UTF-8 decodes as usual, and each
 * byte that is not part of a valid sequence becomes the lone surrogate U+DC80..U+DCFF.
 * Valid UTF-8 never decodes to a lone surrogate, so the mapping is one-to-one and
 * `encodeFileName(decodeFileName(b))` gives back `b` exactly. JSON keeps lone surrogates
 * as `\udcXX` escapes, so trees store such names without any further encoding.
 */
import { join } from 'node:path';

const ESCAPE_BASE = 0xdc00;
const SURROGATE = /[\ud800-\udfff]/;

/** The name a byte string stands for: its UTF-8 text, with invalid bytes escaped. */
export function decodeFileName(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const text = buffer.toString('utf8');
  // The common case: every byte was valid UTF-8 (a real U+FFFD in the name still
  // round-trips, which the byte comparison below checks).
  if (!text.includes('\ufffd') || Buffer.from(text, 'utf8').equals(buffer)) return text;
  let out = '';
  for (let i = 0; i < buffer.length; ) {
    const length = validSequenceLength(buffer, i);
    if (length === 0) {
      out += String.fromCharCode(ESCAPE_BASE + buffer[i]!);
      i++;
    } else {
      out += buffer.toString('utf8', i, i + length);
      i += length;
    }
  }
  return out;
}

/** The bytes a decoded name stands for. */
export function encodeFileName(name: string): Buffer {
  if (!SURROGATE.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++; // a valid pair: ordinary text
      continue;
    }
    if (unit >= ESCAPE_BASE + 0x80 && unit <= ESCAPE_BASE + 0xff) {
      parts.push(Buffer.from(name.slice(start, i), 'utf8'), Buffer.of(unit - ESCAPE_BASE));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(name.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/** Whether a decoded name holds escaped bytes (and so must reach the OS as a Buffer). */
export function hasEscapedBytes(name: string): boolean {
  return SURROGATE.test(name) && !encodeFileName(name).equals(Buffer.from(name, 'utf8'));
}

/**
 * The path to hand to `node:fs` for `relative` (a decoded, `/`-separated name) under
 * `root`: a string when it is plain text, else the exact bytes.
 */
export function fsPath(root: string, relative: string): string | Buffer {
  return nativePath(relative === '' ? root : join(root, relative));
}

/** The path to hand to `node:fs` for a decoded absolute path. */
export function nativePath(path: string): string | Buffer {
  return hasEscapedBytes(path) ? encodeFileName(path) : path;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function validSequenceLength(bytes: Buffer, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  let length: number;
  let min: number;
  let codePoint: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [length, min, codePoint] = [2, 0x80, b0 & 0x1f];
  else if (b0 >= 0xe0 && b0 <= 0xef) [length, min, codePoint] = [3, 0x800, b0 & 0x0f];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [length, min, codePoint] = [4, 0x10000, b0 & 0x07];
  else return 0;
  if (i + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) {
    const b = bytes[i + k]!;
    if ((b & 0xc0) !== 0x80) return 0;
    codePoint = (codePoint << 6) | (b & 0x3f);
  }
  if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return 0;
  return length;
}
