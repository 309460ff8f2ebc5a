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

describe('TarCheck on crafted headers', () => {
  /** One member `f` whose pax header says `records`, then the end of the archive. */
  function paxTar(records: string): Buffer {
    const block = (name: string, flag: string, size: number) => {
      const header = Buffer.alloc(512);
      header.write(name, 0);
      header.write('0000644\0', 100);
      header.write('0001750\0', 108);
      header.write('0001750\0', 116);
      header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
      header.write('14531066400\0', 136);
      header.write(flag, 156);
      header.write('ustar\x0000', 257, 'latin1');
      header.fill(0x20, 148, 156);
      let sum = 0;
      for (const byte of header) sum += byte;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      return header;
    };
    const data = Buffer.alloc(512);
    data.write(records);
    return Buffer.concat([
      block('PaxHeaders/f', 'x', records.length),
      data,
      block('f', '0', 1),
      Buffer.alloc(512 * 3),
    ]);
  }

  it('fails a pax size of -1536 at once instead of running backwards', { timeout: 20_000 }, async () => {
    await expect(check(paxTar('14 size=-1536\n'), {})).rejects.toThrow(
      /^incomplete tar stream after \d+ bytes: member "f" at byte 1024 has an invalid size: "-1536" \(pax\)$/,
    );
  });

  it('fails a pax mtime that is no number', async () => {
    await expect(check(paxTar('13 mtime=abc\n'), {})).rejects.toThrow(
      /member "f" at byte 1024 has an invalid mtime/,
    );
  });
});
