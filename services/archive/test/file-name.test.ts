import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFileName, encodeFileName, fsPath, hasEscapedBytes } from '../src/snapshot/file-name.js';

describe('file names as bytes', () => {
  it('decodes UTF-8 as text and escapes only the bytes that are not', () => {
    expect(decodeFileName(Buffer.from('café/日本'))).toBe('café/日本');
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74]); // "caf\xe9.t"
    const name = decodeFileName(latin1);
    expect(name).toBe('caf\udce9.t');
    expect(hasEscapedBytes(name)).toBe(true);
    expect(hasEscapedBytes('café')).toBe(false);
    expect(encodeFileName(name)).toEqual(latin1);
    expect(JSON.parse(JSON.stringify(name))).toBe(name);
  });

  it('refuses overlong forms, encoded surrogates and truncated sequences as text', () => {
    for (const bytes of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe6, 0x97], [0xf5, 0x80, 0x80, 0x80], [0xff]]) {
      const raw = Buffer.from(bytes);
      const name = decodeFileName(raw);
      expect([...name].every((c) => c.charCodeAt(0) >= 0xdc80 && c.charCodeAt(0) <= 0xdcff)).toBe(true);
      expect(encodeFileName(name)).toEqual(raw);
    }
  });

  it('keeps a real U+FFFD and astral characters', () => {
    for (const text of ['a\ufffdb', '😀x', '\ufffd']) {
      expect(decodeFileName(Buffer.from(text))).toBe(text);
      expect(encodeFileName(text)).toEqual(Buffer.from(text));
    }
  });

  it('round-trips every byte string, and is one-to-one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const x = decodeFileName(a);
        expect(encodeFileName(x)).toEqual(Buffer.from(a));
        if (!Buffer.from(a).equals(Buffer.from(b))) expect(decodeFileName(b)).not.toBe(x);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives node:fs the exact bytes of a name that is not UTF-8', () => {
    expect(fsPath('/d', 'x/y')).toBe('/d/x/y');
    expect(fsPath('/d', 'caf\udce9')).toEqual(Buffer.from([...Buffer.from('/d/caf'), 0xe9]));
  });
});
