import { execFileSync } from 'node:child_process';
import {
  link,
  lstat,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, restoreSnapshot } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

const GiB = 1024 * 1024 * 1024;

/** Bytes a file occupies on disk (`du`). */
async function allocated(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

describe.each(['fs', 's3'] as const)('restore fidelity on the %s driver', (driver) => {
  let ws: Workspace;
  let s3: S3Server | undefined;
  const data = pseudoRandom(5, 100_000);

  beforeAll(async () => {
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['fidelity'] });
      const backend = openBackend('s3://fidelity/archive', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
      ws = await newWorkspace(`fidelity-${driver}`, backend);
    } else {
      ws = await newWorkspace(`fidelity-${driver}`);
    }
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('keeps the holes of a sparse file, in a restore and a delta restore', async () => {
    const source = ws.path('sparse');
    await mkdir(source);
    // `truncate -s 1G`, with some data in the middle.
    const file = `${source}/disk.img`;
    await writeFile(file, '');
    await truncate(file, GiB);
    const handle = await open(file, 'r+');
    await handle.write(data, 0, data.length, GiB / 2 + 12345);
    await handle.close();
    expect(await allocated(file)).toBeLessThan(1024 * 1024);
    const snapshot = await backupTree(ws.archive, source);

    const target = ws.path('sparse-restored');
    await restoreSnapshot(ws.archive, snapshot.id, { target });
    const restored = `${target}/disk.img`;
    expect((await stat(restored)).size).toBe(GiB);
    expect(await readAt(restored, GiB / 2 + 12345, data.length)).toEqual(data);
    expect(await readAt(restored, GiB / 2 + 12345 - 10, 10)).toEqual(Buffer.alloc(10));
    expect(await allocated(restored)).toBeLessThan(4 * 1024 * 1024);

    // Delta: the file shorter than it should be, then missing.
    await truncate(restored, 1000);
    await restoreSnapshot(ws.archive, snapshot.id, { target, delta: true });
    expect((await stat(restored)).size).toBe(GiB);
    expect(await readAt(restored, GiB / 2 + 12345, data.length)).toEqual(data);
    expect(await allocated(restored)).toBeLessThan(8 * 1024 * 1024);
    await rm(restored);
    await restoreSnapshot(ws.archive, snapshot.id, { target, delta: true });
    expect(await readAt(restored, GiB / 2 + 12345, data.length)).toEqual(data);
    expect(await allocated(restored)).toBeLessThan(4 * 1024 * 1024);
    await rm(target, { recursive: true });
  });

  it('writes the zeros of a file that had no holes: it is allocated again, as a WAL segment must be', async () => {
    const source = ws.path('allocated');
    await mkdir(source);
    // A zero-filled 16 MiB segment with a record at its start, as PostgreSQL preallocates WAL.
    const file = `${source}/000000010000000000000001`;
    const segment = Buffer.alloc(16 * 1024 * 1024);
    data.copy(segment, 0, 0, 8192);
    await writeFile(file, segment);
    expect(await allocated(file)).toBeGreaterThanOrEqual(segment.length);
    const snapshot = await backupTree(ws.archive, source);

    const target = ws.path('allocated-restored');
    await restoreSnapshot(ws.archive, snapshot.id, { target });
    const restored = `${target}/000000010000000000000001`;
    expect((await readFile(restored)).equals(segment)).toBe(true);
    expect(await allocated(restored)).toBeGreaterThanOrEqual(segment.length);
    // Delta from a shorter file: the zeros past its end are written too.
    await truncate(restored, 4096);
    await restoreSnapshot(ws.archive, snapshot.id, { target, delta: true });
    expect((await readFile(restored)).equals(segment)).toBe(true);
    expect(await allocated(restored)).toBeGreaterThanOrEqual(segment.length);
    await rm(target, { recursive: true });
  });

  it('restores hard links within the snapshot as hard links, also by delta restore', async () => {
    const source = ws.path('links');
    await mkdir(`${source}/x/y`, { recursive: true });
    await writeFile(`${source}/a`, data);
    await link(`${source}/a`, `${source}/b`);
    await writeFile(`${source}/x/small`, 'small and linked three times\n');
    await link(`${source}/x/small`, `${source}/x/y/small-2`);
    await link(`${source}/x/small`, `${source}/z`);
    await writeFile(`${source}/alone`, 'one link\n');
    const first = await backupTree(ws.archive, source);
    // Unchanged, from the parent: the links are kept too.
    const snapshot = await backupTree(ws.archive, source);
    expect(snapshot.parent).toBe(first.id);

    const ino = async (path: string) => (await lstat(path)).ino;
    const target = ws.path('links-restored');
    for (const delta of [false, true]) {
      await restoreSnapshot(ws.archive, snapshot.id, { target, delta });
      expect(await ino(`${target}/b`)).toBe(await ino(`${target}/a`));
      expect(await ino(`${target}/x/y/small-2`)).toBe(await ino(`${target}/x/small`));
      expect(await ino(`${target}/z`)).toBe(await ino(`${target}/x/small`));
      expect((await lstat(`${target}/x/small`)).nlink).toBe(3);
      expect((await lstat(`${target}/alone`)).nlink).toBe(1);
      expect(await readFile(`${target}/b`)).toEqual(data);
      expect(await readFile(`${target}/z`, 'utf8')).toBe('small and linked three times\n');
      // Broken apart and changed for the delta restore to mend.
      await rm(`${target}/b`);
      await writeFile(`${target}/b`, 'a separate file now');
      await rm(`${target}/z`);
    }
    await restoreSnapshot(ws.archive, snapshot.id, { target, delta: true });
    expect(await ino(`${target}/b`)).toBe(await ino(`${target}/a`));
    expect(await readFile(`${target}/a`)).toEqual(data);
    expect(await ino(`${target}/z`)).toBe(await ino(`${target}/x/small`));
    await rm(target, { recursive: true });
  });

  /** A tree whose mtimes have sub-microsecond digits: files, a directory, a symlink, a name that is not UTF-8. */
  async function timedTree(name: string): Promise<{ source: string; names: (string | Buffer)[] }> {
    const source = ws.path(name);
    await mkdir(`${source}/dir`, { recursive: true });
    const stamps = [
      '1763773200.123456789',
      '1763773200.999999999',
      '1000000000.000000999',
      '1763773200.000001500',
    ];
    for (const [i, stamp] of stamps.entries()) {
      await writeFile(`${source}/dir/f${i}`, `file ${i}\n`);
      execFileSync('touch', ['-m', '-d', `@${stamp}`, `${source}/dir/f${i}`]);
    }
    const latin1 = Buffer.concat([Buffer.from(`${source}/dir/caf`), Buffer.of(0xe9)]);
    // touch takes its path as text: set the time first, then give the file its name.
    await writeFile(`${source}/dir/latin1`, 'not UTF-8\n');
    execFileSync('touch', ['-m', '-d', '@1763773200.555555555', `${source}/dir/latin1`]);
    await rename(`${source}/dir/latin1`, latin1);
    await symlink('f0', `${source}/dir/link`);
    execFileSync('touch', ['-h', '-m', '-d', '@1763773200.111111111', `${source}/dir/link`]);
    execFileSync('touch', ['-m', '-d', '@1763773200.987654321', `${source}/dir`]);
    const names = ['dir', 'dir/link', ...stamps.map((_, i) => `dir/f${i}`)];
    return { source, names: [...names, Buffer.concat([Buffer.from('dir/caf'), Buffer.of(0xe9)])] };
  }

  const under = (root: string, name: string | Buffer) =>
    typeof name === 'string' ? `${root}/${name}` : Buffer.concat([Buffer.from(`${root}/`), name]);

  it('restores mtimes to the nanosecond: files, directories, symlinks, names that are not UTF-8', async () => {
    const { source, names } = await timedTree('times');
    const snapshot = await backupTree(ws.archive, source);
    const target = ws.path('times-restored');
    await restoreSnapshot(ws.archive, snapshot.id, { target });
    // The perl that set them is gone with the restore.
    const children = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'comm='], { encoding: 'utf8' });
    expect(children).not.toMatch(/perl/);
    for (const name of names) {
      const original = (await lstat(under(source, name), { bigint: true })).mtimeNs;
      const restored = (await lstat(under(target, name), { bigint: true })).mtimeNs;
      expect(restored, String(name)).toBe(original);
      expect(original % 1000n, String(name)).not.toBe(0n);
    }
    await rm(target, { recursive: true });
  });

  it('still restores, with mtimes to the microsecond, when perl is not there', async () => {
    const { source, names } = await timedTree('times-no-perl');
    const snapshot = await backupTree(ws.archive, source);
    const target = ws.path('times-no-perl-restored');
    await restoreSnapshot(ws.archive, snapshot.id, { target, perl: '/nonexistent/perl' });
    for (const name of names) {
      const original = (await lstat(under(source, name), { bigint: true })).mtimeNs;
      const restored = (await lstat(under(target, name), { bigint: true })).mtimeNs;
      // libuv (under node:fs.utimes) cuts to whole microseconds.
      expect(restored / 1000n, String(name)).toBe(original / 1000n);
      expect(restored % 1000n, String(name)).toBe(0n);
    }
    await rm(target, { recursive: true });
  });
});
