import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { KeyedHash } from '../src/crypto/hash.js';
import { seal, unseal } from '../src/crypto/seal.js';
import { backupTree, initArchive, restoreSnapshot } from '../src/index.js';
import { openBlob, sealBlob, sealBlobWithId } from '../src/pack/blob-codec.js';
import { BlobType, Compression } from '../src/pack/blob-entry.js';
import { compressPieces, PIECE_BYTES, uncompressPieces } from '../src/pack/lz4-pieces.js';
import { zstdFrameHasChecksum } from '../src/pack/zstd-codec.js';
import { newWorkspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { compressible, pseudoRandom, writeLargeFile } from './helpers/make-tree.js';

describe('blob compression', () => {
  const key = randomBytes(32);
  const hash = new KeyedHash(randomBytes(32));

  it('lz4 pieces round-trip across piece boundaries', () => {
    for (const size of [1, PIECE_BYTES - 1, PIECE_BYTES, PIECE_BYTES + 1, 5 * PIECE_BYTES + 17]) {
      const plain = compressible(size, size);
      expect(uncompressPieces(compressPieces(plain), size).equals(plain)).toBe(true);
    }
    expect(() =>
      uncompressPieces(compressPieces(compressible(1, 300_000)).subarray(0, 1000), 300_000),
    ).toThrow();
  });

  it.each([Compression.Zstd, Compression.Lz4])(
    'seals and opens blobs with compression %i',
    async (compression) => {
      const text = compressible(9, 3 * 1024 * 1024);
      const blob = await sealBlob(key, hash, BlobType.Data, text, compression);
      expect(blob.compression).toBe(compression);
      expect(blob.sealed.length).toBeLessThan(text.length / 2);
      const opened = openBlob(key, hash, blob, blob.sealed);
      expect(opened.ok && opened.plain.equals(text)).toBe(true);
      // Random data is stored as it is.
      const noise = pseudoRandom(3, 2 * 1024 * 1024);
      const stored = await sealBlob(key, hash, BlobType.Data, noise, compression);
      expect(stored.compression).toBe(Compression.None);
      const back = openBlob(key, hash, stored, stored.sealed);
      expect(back.ok && back.plain.equals(noise)).toBe(true);
    },
  );

  it('zstd frames carry their content checksum, which restore relies on in place of the id', async () => {
    const text = compressible(4, 128 * 1024);
    const blob = await sealBlob(key, hash, BlobType.Data, text, Compression.Zstd);
    const frame = unseal(key, blob.sealed, blob.id)!;
    expect(zstdFrameHasChecksum(frame)).toBe(true);
    const trusted = openBlob(key, hash, blob, blob.sealed, { trustFrameChecksum: true });
    expect(trusted.ok && trusted.plain.equals(text)).toBe(true);

    // Bytes that decode but no longer match the checksum (here, the checksum itself,
    // the frame's last 4 bytes) fail to open even when the frame is trusted.
    const faulty = Buffer.from(frame);
    faulty[faulty.length - 1]! ^= 0x10;
    const resealed = { ...blob, sealed: seal(key, faulty, blob.id) };
    expect(openBlob(key, hash, resealed, resealed.sealed, { trustFrameChecksum: true }).ok).toBe(false);

    // A writer that named one plaintext and compressed another: only recomputing the
    // id finds it, which every open does unless told to trust the frame (verify does).
    const otherId = hash.digest(Buffer.from('other'));
    const misnamed = await sealBlobWithId(key, BlobType.Data, otherId, text);
    const mismatch = { ok: false, reason: 'content does not match its id' };
    expect(openBlob(key, hash, misnamed, misnamed.sealed)).toEqual(mismatch);
    // Frames written before frames carried checksums are always checked by their id.
    const bare = zstdFrameWithoutChecksum(text);
    expect(zstdFrameHasChecksum(bare)).toBe(false);
    const old = { ...blob, id: otherId, sealed: seal(key, bare, otherId) };
    expect(openBlob(key, hash, old, old.sealed, { trustFrameChecksum: true })).toEqual(mismatch);
  });

  it('an archive created with lz4 round-trips', async () => {
    const ws = await newWorkspace('lz4');
    try {
      const { archive } = await initArchive({
        archive: ws.path('lz4-archive'),
        keyFile: ws.keyFile,
        compression: 'lz4',
      });
      expect(archive.config.compression).toBe('lz4');
      await writeLargeFile(ws.path('src', 'text.log'), 12 * 1024 * 1024, (i, n) => compressible(i, n));
      await writeLargeFile(ws.path('src', 'base', '1', '2'), 4 * 1024 * 1024, (i, n) =>
        compressible(i + 5, n),
      );
      const snapshot = await backupTree(archive, ws.path('src'));
      expect(snapshot.stats.newBytesStored).toBeLessThan(8 * 1024 * 1024);
      await restoreSnapshot(archive, snapshot.id, { target: ws.path('out') });
      expect(await compareTrees(ws.path('src'), ws.path('out'))).toEqual([]);
    } finally {
      await ws.remove();
    }
  });
});

/** A zstd frame as written before frames carried a checksum. */
function zstdFrameWithoutChecksum(plain: Buffer): Buffer {
  const require = createRequire(import.meta.url);
  const { Compressor } = require('zstd-napi') as typeof import('zstd-napi');
  const compressor = new Compressor();
  compressor.setParameters({ compressionLevel: 1, checksumFlag: false });
  return compressor.compress(plain);
}
