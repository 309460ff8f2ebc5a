import { randomBytes } from 'node:crypto';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceEntry } from '@pullback/archive';
import { scratchDir } from '@pullback/harness';
import { type Header, pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { artifactTree } from '../src/domain/artifact-tree.js';
import type { ArtifactManifest } from '../src/recipe.js';

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
