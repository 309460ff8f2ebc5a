import { randomBytes } from 'node:crypto';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeFileName, type SourceEntry } from '@pullback/archive';
import { scratchDir } from '@pullback/harness';
import { type Header, pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactManifest } from '../src/artifact/format.js';
import { artifactTree } from '../src/artifact/tree.js';
import { type RawMember, rawTar } from './helpers/raw-tar.js';

const manifest = { exportId: 'e1', component: 'docs' } as ArtifactManifest;
let dir: Awaited<ReturnType<typeof scratchDir>>;

beforeEach(async () => {
  dir = await scratchDir('artifact-tree');
});

afterEach(async () => {
  await dir.remove();
});

/** Writes a tar of `members` (tar-stream, as the recipes write theirs) and returns its path. */
async function tarOf(
  members: readonly (Partial<Header> & { name: string; body?: Buffer })[],
  name = 'a.tar',
): Promise<string> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve) => archive.on('end', () => resolve()));
  for (const { body, ...header } of members) {
    if (body === undefined) archive.entry(header);
    else archive.entry(header, body);
  }
  archive.finalize();
  await ended;
  const path = join(dir.path, name);
  await writeFile(path, Buffer.concat(chunks));
  return path;
}

async function bytesOf(entry: SourceEntry): Promise<Buffer> {
  const data = Buffer.alloc(Number(entry.stats.size));
  const handle = await open(entry.absolute, 'r');
  try {
    await handle.read(data, 0, data.length, entry.base ?? 0);
  } finally {
    await handle.close();
  }
  return data;
}

const mtime = new Date('2026-01-02T03:04:05Z');

describe('artifactTree', () => {
  it('lists the members in tree order as slices of the tar, as unpacking would leave them', async () => {
    const big = randomBytes(70_000);
    const longName = `d/${'n'.repeat(120)}`;
    const file = await tarOf([
      { name: 'd', type: 'directory', mode: 0o750, mtime },
      { name: 'd/a', body: Buffer.from('alpha'), mode: 0o640, mtime },
      { name: longName, body: big, mode: 0o600, mtime },
      { name: 'l', type: 'symlink', linkname: 'd/a', mtime },
      { name: 'h', type: 'link', linkname: 'd/a', mtime },
      { name: 'x/y/z', body: Buffer.from('implied parents'), mtime },
      // A later member replaces an earlier one, as when unpacking.
      { name: 'd/a', body: Buffer.from('beta!'), mode: 0o644, mtime },
    ]);
    const entries = await artifactTree(manifest, [{ file, name: 'e1/a.tar' }]);
    expect(entries.map((e) => e.path)).toEqual(['', 'd', 'd/a', longName, 'h', 'l', 'x', 'x/y', 'x/y/z']);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect((await bytesOf(byPath.get('d/a')!)).toString()).toBe('beta!');
    expect((await bytesOf(byPath.get(longName)!)).equals(big)).toBe(true);
    // The hard link was taken when `d/a` still held "alpha".
    expect((await bytesOf(byPath.get('h')!)).toString()).toBe('alpha');
    expect((await bytesOf(byPath.get('x/y/z')!)).toString()).toBe('implied parents');
    expect(byPath.get('l')).toMatchObject({ target: 'd/a' });
    expect(byPath.get('l')!.stats.isSymbolicLink()).toBe(true);
    expect(Number(byPath.get('d')!.stats.mode)).toBe(0o750);
    expect(Number(byPath.get('d/a')!.stats.mode)).toBe(0o644);
    expect(byPath.get('d/a')!.stats.mtimeNs).toBe(BigInt(mtime.getTime()) * 1_000_000n);
    expect(Number(byPath.get('x')!.stats.mode)).toBe(0o755);
    expect(Number(byPath.get('')!.stats.mode)).toBe(0o700);
  });

  it('joins several tars in order, the later ones adding to and replacing the earlier', async () => {
    const first = await tarOf([
      { name: 'a', body: Buffer.from('1') },
      { name: 'b', body: Buffer.from('1') },
    ]);
    const second = await tarOf([{ name: 'b', body: Buffer.from('22') }], 'b.tar');
    const entries = await artifactTree(manifest, [
      { file: first, name: 'e1/a.tar' },
      { file: second, name: 'e1/b.tar' },
    ]);
    expect(entries.map((e) => e.path)).toEqual(['', 'a', 'b']);
    expect((await bytesOf(entries[2]!)).toString()).toBe('22');
  });

  it.each([
    ['a path leaving the tree', [{ name: '../escape', body: Buffer.from('x') }], /would be written outside/],
    ['an absolute path', [{ name: '/etc/passwd', body: Buffer.from('x') }], /would be written outside/],
    [
      'a member under a symlink',
      [
        { name: 'l', type: 'symlink', linkname: '/etc' },
        { name: 'l/passwd', body: Buffer.from('x') },
      ],
      /lies under the symlink l/,
    ],
    ['a device', [{ name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 }], /tar type "3"/],
    [
      'a file replacing a directory',
      [
        { name: 'd', type: 'directory' },
        { name: 'd', body: Buffer.from('x') },
      ],
      /would replace a directory/,
    ],
  ] as const)('refuses %s as a corrupt artifact', async (_what, members, message) => {
    const file = await tarOf(members as unknown as (Partial<Header> & { name: string; body?: Buffer })[]);
    const refusal = artifactTree(manifest, [{ file, name: 'e1/a.tar' }]);
    await expect(refusal).rejects.toMatchObject({ code: 'corrupt-artifact' });
    await expect(refusal).rejects.toThrow(message);
  });

  it('puts a rooted tar under its root, in place of what other tars have there', async () => {
    // As pg_basebackup writes a tablespace: its tar first, then base.tar with the symlink.
    const tablespace = await tarOf(
      [
        { name: 'PG_15_202209061', type: 'directory', mode: 0o700, mtime },
        { name: 'PG_15_202209061/5/16391', body: Buffer.from('rows'), mode: 0o600, mtime },
        { name: 'PG_15_202209061/5/16392', type: 'link', linkname: 'PG_15_202209061/5/16391', mtime },
      ],
      '16390.tar',
    );
    const base = await tarOf(
      [
        { name: 'PG_VERSION', body: Buffer.from('15\n'), mtime },
        { name: 'pg_tblspc', type: 'directory', mode: 0o700, mtime },
        { name: 'pg_tblspc/16390', type: 'symlink', linkname: '/srv/ts', mtime },
        { name: 'pg_tblspc/16390/stray', body: Buffer.from('not the tablespace'), mtime },
      ],
      'base.tar',
    );
    const entries = await artifactTree(manifest, [
      { file: tablespace, name: 'e1/16390.tar', root: 'pg_tblspc/16390' },
      { file: base, name: 'e1/base.tar' },
    ]);
    expect(entries.map((e) => e.path)).toEqual([
      '',
      'PG_VERSION',
      'pg_tblspc',
      'pg_tblspc/16390',
      'pg_tblspc/16390/PG_15_202209061',
      'pg_tblspc/16390/PG_15_202209061/5',
      'pg_tblspc/16390/PG_15_202209061/5/16391',
      'pg_tblspc/16390/PG_15_202209061/5/16392',
    ]);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('pg_tblspc/16390')!.stats.isDirectory()).toBe(true);
    expect(Number(byPath.get('pg_tblspc')!.stats.mode)).toBe(0o700);
    expect((await bytesOf(byPath.get('pg_tblspc/16390/PG_15_202209061/5/16392')!)).toString()).toBe('rows');
  });

  it('refuses a root outside the tree', async () => {
    const file = await tarOf([{ name: 'a', body: Buffer.from('a'), mtime }]);
    await expect(artifactTree(manifest, [{ file, name: 'e1/a.tar', root: '../up' }])).rejects.toThrow(
      /outside the snapshot's tree/,
    );
  });

  it('refuses a damaged header and a truncated member, naming the object', async () => {
    const file = await tarOf([
      { name: 'a', body: randomBytes(5000) },
      { name: 'b', body: Buffer.from('b') },
    ]);
    const damaged = await readFile(file);
    damaged[10] = damaged[10]! ^ 0xff;
    const flipped = join(dir.path, 'flipped.tar');
    await writeFile(flipped, damaged);
    await expect(artifactTree(manifest, [{ file: flipped, name: 'e1/flipped.tar' }])).rejects.toThrow(
      /^artifact e1 of docs: e1\/flipped\.tar is not a valid tar: the header at byte 0 fails its checksum$/,
    );
    await truncate(file, 3000);
    await expect(artifactTree(manifest, [{ file, name: 'e1/a.tar' }])).rejects.toThrow(
      /e1\/a\.tar is not a valid tar: member a is cut short/,
    );
  });
});

describe('artifactTree on crafted headers', () => {
  async function refusal(members: readonly RawMember[]): Promise<Error> {
    const file = join(dir.path, 'crafted.tar');
    await writeFile(file, rawTar(members));
    const error = await artifactTree(manifest, [{ file, name: 'e1/crafted.tar' }]).then(
      () => new Error('accepted'),
      (e: unknown) => e as Error,
    );
    expect(error).toMatchObject({ code: 'corrupt-artifact' });
    expect(error.message).not.toContain('\n');
    return error;
  }

  const body = Buffer.from('x');
  it.each([
    // Each was found by hand: a pax size of -1536 sent the scan back to the pax header for ever.
    [
      'a pax size of -1536',
      { pax: { size: '-1536' } },
      /member "f" at byte 1024 has an invalid size: "-1536" \(pax\)$/,
    ],
    [
      'a pax size in hexadecimal',
      { pax: { size: '0x1' } },
      /member "f" at byte 1024 has an invalid size: "0x1" \(pax\)$/,
    ],
    [
      'a pax size beyond any file',
      { pax: { size: '99999999999999999999' } },
      /invalid size: "99999999999999999999" \(pax\)$/,
    ],
    [
      'a pax mtime of abc',
      { pax: { mtime: 'abc' } },
      /member "f" at byte 1024 has an invalid mtime: "abc" \(pax\)$/,
    ],
    ['a pax mtime before 1970', { pax: { mtime: '-5' } }, /invalid mtime: "-5" \(pax\)$/],
    [
      'a pax uid of abc',
      { pax: { uid: 'abc' } },
      /member "f" at byte 1024 has an invalid uid: "abc" \(pax\)$/,
    ],
    ['a pax gid beyond 32 bits', { pax: { gid: '4294967296' } }, /invalid gid: "4294967296" \(pax\)$/],
    [
      'a negative base-256 size',
      { raw: { size: Buffer.from([0xff, ...Array(11).fill(0xff)]) } },
      /member "f" at byte 0 has an invalid size field$/,
    ],
    [
      'a base-256 size beyond any file',
      { raw: { size: Buffer.from([0x80, ...Array(11).fill(0xff)]) } },
      /member "f" at byte 0 has an invalid size field$/,
    ],
    [
      'an octal mtime with letters',
      { raw: { mtime: '0000000abc0\0' } },
      /member "f" at byte 0 has an invalid mtime field$/,
    ],
    [
      'a sparse file (pax)',
      { pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } },
      /member "f" at byte 1024 is a sparse file/,
    ],
  ] as const)(
    'refuses %s as a corrupt artifact, naming the member',
    { timeout: 20_000 },
    async (_what, extra, message) => {
      const error = await refusal([{ name: 'f', body, ...extra }]);
      expect(error.message).toMatch(/^artifact e1 of docs: e1\/crafted\.tar is not a valid tar: /);
      expect(error.message).toMatch(message);
    },
  );

  it('refuses a file that a later member takes as its directory, naming both', async () => {
    // Found by hand: committed, then verify said `parent directory missing: "f/x"`.
    const error = await refusal([
      { name: 'f', body },
      { name: 'f/x', body },
    ]);
    expect(error.message).toMatch(/member "f\/x" lies under member "f", which is no directory$/);
  });

  it('refuses a member that replaces a directory other members implied', async () => {
    const error = await refusal([
      { name: 'f/x', body },
      { name: 'f', body },
    ]);
    expect(error.message).toMatch(/member "f" would replace a directory$/);
  });

  it('refuses a name with a component longer than 255 bytes, naming the member', async () => {
    // Found by hand: committed, then restore failed with ENAMETOOLONG.
    const long = `d/${'n'.repeat(300)}`;
    const error = await refusal([{ name: 'f', body, pax: { path: long } }]);
    expect(error.message).toMatch(
      new RegExp(`member "${long}" has a name longer than 255 bytes: no filesystem can hold it$`),
    );
  });

  it('refuses a symlink with an empty target, which no filesystem can hold', async () => {
    const error = await refusal([{ name: 'l', flag: '2', linkname: '' }]);
    expect(error.message).toMatch(/member "l" is a symlink to nothing$/);
  });

  it('decodes names that are not UTF-8 losslessly, whichever header holds them', async () => {
    const latin1 = Buffer.from('caf\xe9', 'latin1');
    const file = join(dir.path, 'names.tar');
    const longRaw = Buffer.concat([Buffer.from(`${'l'.repeat(120)}-`), latin1]);
    await writeFile(
      file,
      rawTar([
        { name: latin1, body },
        { name: 'ignored', body, pax: { path: Buffer.concat([Buffer.from('pax-'), latin1]) } },
        { name: 'ignored', body, longName: longRaw },
        { name: 'link', flag: '2', linkname: latin1 },
      ]),
    );
    const entries = await artifactTree(manifest, [{ file, name: 'e1/names.tar' }]);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.has(decodeFileName(latin1))).toBe(true);
    expect(byPath.has(decodeFileName(Buffer.concat([Buffer.from('pax-'), latin1])))).toBe(true);
    expect(byPath.has(decodeFileName(longRaw))).toBe(true);
    expect(byPath.get('link')?.target).toBe(decodeFileName(latin1));
  });

  it('stops reading the tars once its signal aborts', async () => {
    const members: RawMember[] = [];
    for (let i = 0; i < 20_000; i++) members.push({ name: `m${i}`, body });
    const file = join(dir.path, 'many.tar');
    await writeFile(file, rawTar(members));
    const controller = new AbortController();
    const scan = artifactTree(manifest, [{ file, name: 'e1/many.tar' }], controller.signal);
    controller.abort(new Error('job aborted'));
    await expect(scan).rejects.toThrow(/^job aborted$/);
  });
});
