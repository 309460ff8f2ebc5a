import { access, mkdir, open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexWriter } from '../src/blob-index/index-writer.js';
import {
  type ArchiveErrorCode,
  backupTree,
  createKeyFile,
  initArchive,
  isArchiveError,
  openArchive,
  restoreSnapshot,
} from '../src/index.js';
import { sealBlob } from '../src/pack/blob-codec.js';
import { BlobType } from '../src/pack/blob-entry.js';
import { PackWriter } from '../src/pack/pack-writer.js';
import { saveSnapshot } from '../src/snapshot/manifest.js';
import type { TreeEntry } from '../src/snapshot/tree-entry.js';
import { newWorkspace, objectNames, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom, writeLargeFile } from './helpers/make-tree.js';

async function failure(promise: Promise<unknown>): Promise<{ code: ArchiveErrorCode; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isArchiveError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a failure');
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('bad input: one clear error, nothing written', () => {
  let ws: Workspace;
  let snapshotId: string;
  beforeAll(async () => {
    ws = await newWorkspace('bad-input');
    await writeLargeFile(ws.path('src', 'big.bin'), 20 * 1024 * 1024, (i, n) => pseudoRandom(i + 3, n));
    await writeFile(ws.path('src', 'small.txt'), 'small');
    snapshotId = (await backupTree(ws.archive, ws.path('src'))).id;
  });
  afterAll(async () => {
    await ws.remove();
  });

  it('rejects a wrong key file and a wrong passphrase', async () => {
    const otherKey = ws.path('other.key');
    await createKeyFile(otherKey);
    const wrong = await failure(openArchive({ archive: ws.backend, keyFile: otherKey }));
    expect(wrong.code).toBe('wrong-key');
    expect(wrong.message).toBe(`wrong key file for archive ${ws.backend.location}`);

    const dir = await scratchDir('passphrase');
    try {
      await initArchive({ archive: dir.path, passphrase: 'correct horse' });
      await expect(openArchive({ archive: dir.path, passphrase: 'correct horse' })).resolves.toBeDefined();
      expect((await failure(openArchive({ archive: dir.path, passphrase: 'battery staple' }))).code).toBe(
        'wrong-key',
      );
      expect((await failure(openArchive({ archive: dir.path, keyFile: ws.keyFile }))).code).toBe('wrong-key');
    } finally {
      await dir.remove();
    }
  });

  it('rejects a location that is not an archive, and init over an existing one', async () => {
    const dir = await scratchDir('not-archive');
    try {
      await writeFile(join(dir.path, 'hello.txt'), 'not an archive');
      const notArchive = await failure(openArchive({ archive: dir.path, keyFile: ws.keyFile }));
      expect(notArchive.code).toBe('not-an-archive');
      expect(notArchive.message).toBe(`not a pullback archive: ${dir.path}`);
      const before = await objectNames(ws.backend);
      const again = await failure(initArchive({ archive: ws.backend, keyFile: ws.path('new.key') }));
      expect(again.code).toBe('already-an-archive');
      expect(await exists(ws.path('new.key'))).toBe(false);
      expect(await objectNames(ws.backend)).toEqual(before);
    } finally {
      await dir.remove();
    }
  });

  it('rejects an unknown snapshot id', async () => {
    for (const ref of ['deadbeef', 'not-hex!', snapshotId.replace(/^./, (c) => (c === '0' ? '1' : '0'))]) {
      const unknown = await failure(restoreSnapshot(ws.archive, ref, { target: ws.path('never') }));
      expect(unknown.code).toBe('unknown-snapshot');
    }
    expect(await exists(ws.path('never'))).toBe(false);
  });

  it('refuses a non-empty target without delta, and leaves it alone', async () => {
    await mkdir(ws.path('busy'));
    await writeFile(ws.path('busy', 'keep.txt'), 'mine');
    const busy = await failure(restoreSnapshot(ws.archive, snapshotId, { target: ws.path('busy') }));
    expect(busy.code).toBe('target-not-empty');
    expect(await readdir(ws.path('busy'))).toEqual(['keep.txt']);
  });

  it('refuses a source that does not exist, writing nothing to the archive', async () => {
    const before = await objectNames(ws.backend);
    const missing = await failure(backupTree(ws.archive, ws.path('no-such-dir')));
    expect(missing.code).toBe('source-missing');
    expect(missing.message).toBe(`no such directory: ${ws.path('no-such-dir')}`);
    expect(await objectNames(ws.backend)).toEqual(before);
  });

  it('refuses a crafted tree that would write outside the target', async () => {
    const root: TreeEntry = { path: '', type: 'dir', mode: 0o755, mtime: '0', uid: 0, gid: 0 };
    const file = (path: string): TreeEntry => ({
      path,
      type: 'file',
      mode: 0o644,
      mtime: '0',
      uid: 0,
      gid: 0,
      size: 0,
    });
    const crafted: TreeEntry[][] = [
      [root, file('../escaped')],
      [root, file('/tmp/absolute')],
      [root, { ...file('dir'), type: 'dir' }, file('dir/../../escaped')],
      // A symlink to outside, then a file "inside" it.
      [
        root,
        { path: 'link', type: 'symlink', mode: 0o777, mtime: '0', uid: 0, gid: 0, target: ws.dir },
        file('link/escaped'),
      ],
    ];
    for (const [i, entries] of crafted.entries()) {
      const id = await craftSnapshot(ws, entries);
      const target = ws.path(`crafted-${i}`);
      const unsafe = await failure(restoreSnapshot(ws.archive, id, { target }));
      expect(unsafe.code).toBe('unsafe-path');
      expect(unsafe.message).toMatch(/^snapshot [0-9a-f]{64}: /);
      // Checked before anything is created.
      expect(await exists(target)).toBe(false);
    }
    expect(await exists(ws.path('escaped'))).toBe(false);
    expect(await exists('/tmp/absolute')).toBe(false);
  });

  it('detects a flipped byte in a pack on restore, naming the snapshot and the file', async () => {
    // Data packs hold the 20 MiB file's chunks; flip one byte inside the first blob.
    const packs: string[] = [];
    for await (const info of ws.backend.list('data/')) if (info.size > 1024 * 1024) packs.push(info.name);
    expect(packs.length).toBeGreaterThan(0);
    for (const name of packs) {
      const handle = await open(join(ws.archiveDir, name), 'r+');
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 1000);
      byte[0] = byte[0]! ^ 0x40;
      await handle.write(byte, 0, 1, 1000);
      await handle.close();
    }
    const corrupt = await failure(
      restoreSnapshot(ws.archive, snapshotId, { target: ws.path('from-corrupt') }),
    );
    expect(corrupt.code).toBe('corrupt');
    expect(corrupt.message).toContain(`snapshot ${snapshotId.slice(0, 12)}`);
    expect(corrupt.message).toContain('file big.bin');
    expect(corrupt.message).toContain('authentication failed');
    // The small file's bundle was not damaged and is restored; the big one is incomplete.
    expect((await stat(ws.path('from-corrupt', 'small.txt'))).size).toBe(5);
  });
});

/** Stores a tree and a manifest exactly as a (malicious or buggy) writer would. */
async function craftSnapshot(ws: Workspace, entries: TreeEntry[]): Promise<string> {
  const archive = ws.archive;
  const index = new IndexWriter(archive);
  const packs = new PackWriter({
    backend: archive.backend,
    key: archive.keys.encryption,
    packSize: archive.config.packSize,
    onSaved: (pack) => index.add(pack),
  });
  const plain = Buffer.from(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  const blob = await sealBlob(archive.keys.encryption, archive.hash, BlobType.Tree, plain);
  await packs.add(blob);
  await packs.flush();
  await index.flush();
  const snapshot = await saveSnapshot(archive, {
    version: 1,
    time: new Date().toISOString(),
    hostname: 'crafted',
    paths: ['/crafted'],
    tags: {},
    parent: null,
    tree: [blob.id.toString('hex')],
    stats: {
      files: 0,
      dirs: 1,
      symlinks: 0,
      skipped: 0,
      logicalBytes: 0,
      bytesRead: 0,
      newBlobs: 1,
      newBytesStored: 0,
      durationMs: 0,
    },
  });
  return snapshot.id;
}

// The fs driver is used through openBackend, like the CLI does.
void openBackend;
