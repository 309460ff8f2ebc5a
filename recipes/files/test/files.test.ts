import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { scratchDir } from '@pullback/harness';
import { type ArtifactManifest, completeName, RecipeError } from '@pullback/pipeline';
import { type Backend, openBackend } from '@pullback/storage';
import { extract } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { filesRecipe } from '../src/index.js';

interface Entry {
  type: string;
  mode: number;
  mtime: number;
  size?: number;
  sha256?: string;
  linkname?: string;
}

let source: { path: string; remove(): Promise<void> };
let outboxDir: { path: string; remove(): Promise<void> };
let outbox: Backend;

beforeEach(async () => {
  source = await scratchDir('tree');
  outboxDir = await scratchDir('outbox');
  outbox = openBackend(outboxDir.path);
});

afterEach(async () => {
  await source.remove();
  await outboxDir.remove();
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const blake3 = (bytes: Buffer) => new Blake3Hasher().update(bytes).digestBuffer().toString('hex');

async function loadBytes(backend: Backend, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await backend.load(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The tree as a map of relative name to what a tar must say about it. */
async function describeTree(root: string, prefix = ''): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  for (const name of (await readdir(join(root, prefix))).sort()) {
    const relative = prefix === '' ? name : `${prefix}/${name}`;
    const path = join(root, relative);
    const info = await lstat(path);
    const common = { mode: info.mode & 0o7777, mtime: Math.floor(info.mtimeMs / 1000) };
    if (info.isDirectory()) {
      entries.set(relative, { type: 'directory', ...common });
      for (const [k, v] of await describeTree(root, relative)) entries.set(k, v);
    } else if (info.isSymbolicLink()) {
      entries.set(relative, { type: 'symlink', ...common, linkname: await readlink(path) });
    } else {
      const bytes = await readFile(path);
      entries.set(relative, { type: 'file', ...common, size: bytes.length, sha256: sha256(bytes) });
    }
  }
  return entries;
}

/** The entries of a tar stream, in the same shape. */
async function readTar(stream: Readable): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  const parser = extract();
  const reading = (async () => {
    for await (const member of parser) {
      const { header } = member;
      const chunks: Buffer[] = [];
      for await (const chunk of member) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      const common = { mode: header.mode, mtime: Math.floor(header.mtime.getTime() / 1000) };
      entries.set(
        header.name.replace(/\/$/, ''),
        header.type === 'file'
          ? { type: 'file', ...common, size: header.size, sha256: sha256(bytes) }
          : header.type === 'symlink'
            ? { type: 'symlink', ...common, linkname: header.linkname }
            : { type: header.type, ...common },
      );
    }
  })();
  await Promise.all([pipeline(stream, parser), reading]);
  return entries;
}

describe('files recipe', () => {
  it('exports a tree as files.tar + COMPLETE, with contents, modes, mtimes, symlinks and empty directories', async () => {
    const root = source.path;
    await mkdir(join(root, 'repo/objects/ab'), { recursive: true });
    await mkdir(join(root, 'empty'));
    await mkdir(join(root, 'keys'), { mode: 0o700 });
    await writeFile(join(root, 'README'), 'hello\n');
    await writeFile(join(root, 'zero'), '');
    await writeFile(join(root, 'repo/objects/ab/blob'), randomBytes(3 * 1024 * 1024 + 17));
    await writeFile(join(root, 'keys/id'), 'secret', { mode: 0o600 });
    await writeFile(join(root, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(root, 'run.sh'), 0o755);
    await utimes(join(root, 'README'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
    await symlink('README', join(root, 'link-to-readme'));
    await symlink('../missing', join(root, 'repo/dangling'));
    await symlink(join(root, 'repo'), join(root, 'absolute'));

    const recipe = filesRecipe();
    expect(recipe.afterRestore).toBeUndefined();
    const manifest = await recipe.export({ component: 'docs', path: root, outbox, exportId: 'f1' });

    expect(manifest).toMatchObject({ recipe: 'files', kind: 'physical', component: 'docs' });
    expect(manifest.details).toMatchObject({ path: root, files: 5, dirs: 5, symlinks: 3, skipped: 0 });
    const stored = JSON.parse((await loadBytes(outbox, completeName('f1'))).toString()) as ArtifactManifest;
    expect(stored).toEqual(manifest);
    const [object] = manifest.objects;
    expect(object?.name).toBe('f1/files.tar');
    expect(object?.size).toBe((await outbox.stat('f1/files.tar')).size);

    expect(object?.blake3).toBe(blake3(await loadBytes(outbox, 'f1/files.tar')));

    const inTar = await readTar(await outbox.load('f1/files.tar'));
    const onDisk = await describeTree(root);
    expect([...inTar.keys()]).toEqual([...onDisk.keys()]);
    expect(inTar).toEqual(onDisk);
    expect(inTar.get('README')?.mtime).toBe(Date.parse('2020-01-02T03:04:05Z') / 1000);
    expect(inTar.get('run.sh')?.mode).toBe(0o755);
    expect(inTar.get('empty')?.type).toBe('directory');
  });

  it('fails with one line and leaves nothing when the path is missing', async () => {
    const missing = join(source.path, 'nope');
    const error = await filesRecipe()
      .export({ component: 'docs', path: missing, outbox, exportId: 'f2' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecipeError);
    expect((error as RecipeError).message).toBe(`export f2 of docs: ${missing} does not exist`);
    expect((error as RecipeError).permanent).toBe(true);
    const names: string[] = [];
    for await (const info of outbox.list('')) names.push(info.name);
    expect(names).toEqual([]);
  });

  it('tells of every entry it leaves out: special files, names that are not UTF-8', async () => {
    const root = source.path;
    await writeFile(join(root, 'kept'), 'kept\n');
    execFileSync('mkfifo', [join(root, 'pipe')]);
    await writeFile(Buffer.from([...Buffer.from(`${root}/caf`), 0xe9]), 'latin-1 name\n');
    const warnings: string[] = [];
    const manifest = await filesRecipe().export({
      component: 'docs',
      path: root,
      outbox,
      exportId: 'f3',
      onWarning: (message) => warnings.push(message),
    });
    expect(manifest.details).toMatchObject({ files: 1, skipped: 2 });
    expect(warnings).toEqual([
      'skipped "caf\ufffd": name is not UTF-8 (a tar member name is text)',
      'skipped "pipe": a fifo (not stored)',
    ]);
  });
});
