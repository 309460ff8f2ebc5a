import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { TarCheck } from '../src/tar-check.js';

/** A tar made by tar-stream: a long (pax) name, a directory, a 100 KB manifest last. */
async function sampleTar(manifest: Buffer): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve) => archive.on('end', () => resolve()));
  archive.entry({ name: 'PG_VERSION' }, Buffer.from('15\n'));
  archive.entry({ name: 'global', type: 'directory' });
  archive.entry({ name: `base/${'x'.repeat(150)}` }, randomBytes(10_000));
  archive.entry({ name: 'backup_manifest' }, manifest);
  archive.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** Streams `bytes` through a TarCheck in odd-sized chunks (headers split across chunks). */
async function check(bytes: Buffer, options: ConstructorParameters<typeof TarCheck>[0]): Promise<TarCheck> {
  const tar = new TarCheck(options);
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 777) pieces.push(bytes.subarray(at, at + 777));
  await pipeline(
    Readable.from(pieces),
    tar,
    new Writable({ write: (_chunk, _encoding, callback) => callback() }),
  );
  return tar;
}

describe('TarCheck', () => {
  const manifest = Buffer.concat([randomBytes(90_000), Buffer.from('"WAL-Ranges": [] }\n')]);
  const options = {
    required: ['PG_VERSION', 'backup_manifest'],
    keepTailOf: 'backup_manifest',
    tailBytes: 1000,
  };

  it('passes a whole archive through, counting members and keeping the tail of one', async () => {
    const tar = await check(await sampleTar(manifest), options);
    expect(tar.members).toBe(4);
    expect(tar.tailOf().equals(manifest.subarray(-1000))).toBe(true);
  });

  it('fails a stream cut anywhere, and one without a required member', async () => {
    const whole = await sampleTar(manifest);
    for (const length of [100, 512, 5000, whole.length - 1024, whole.length - 512, whole.length - 1]) {
      await expect(check(whole.subarray(0, length), options), `cut at ${length}`).rejects.toThrow(
        /^incomplete tar stream after \d+ bytes: /,
      );
    }
    await expect(check(whole, { required: ['global/pg_control'] })).rejects.toThrow(
      /global\/pg_control missing$/,
    );
  });

  it('fails a damaged header', async () => {
    const whole = await sampleTar(manifest);
    whole[3] = whole[3]! ^ 0x01;
    await expect(check(whole, options)).rejects.toThrow(/fails its checksum/);
  });
});
