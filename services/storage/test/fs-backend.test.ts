import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../src/errors.js';
import { FsBackend } from '../src/fs-backend.js';
import { failingStream } from './byte-streams.js';
import { describeBackendContract } from './contract.js';

const roots: string[] = [];

async function freshRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'pullback-fs-backend-'));
  roots.push(root);
  return root;
}

afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

describeBackendContract('fs', async () => new FsBackend(await freshRoot()));

describe('fs backend', () => {
  it('leaves no temp file behind after a failed or aborted write', async () => {
    const root = await freshRoot();
    const backend = new FsBackend(root);
    await expect(backend.save('x/broken', failingStream(1024 * 1024))).rejects.toThrow('source failed');
    await expect(
      backend.save('x/aborted', failingStream(10 * 1024 * 1024), { signal: AbortSignal.abort() }),
    ).rejects.toThrow();
    await backend.save('x/fine', Buffer.from('ok'));
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });

  it('reserves the temp directory and keeps it out of listings', async () => {
    const root = await freshRoot();
    const backend = new FsBackend(root);
    await mkdir(join(root, '.tmp'), { recursive: true });
    await writeFile(join(root, '.tmp', 'leftover'), 'half');
    await expect(backend.save('.tmp/x', Buffer.from('x'))).rejects.toBeInstanceOf(PermanentError);
    await expect(backend.load('.tmp/leftover')).rejects.toBeInstanceOf(PermanentError);
    const names: string[] = [];
    for await (const info of backend.list('')) names.push(info.name);
    expect(names).toEqual([]);
  });

  it('creates its root on first save and lists nothing before', async () => {
    const root = join(await freshRoot(), 'not', 'yet');
    const backend = new FsBackend(root);
    for await (const info of backend.list('')) expect.unreachable(`listed ${info.name}`);
    await backend.save('a/b', Buffer.from('x'));
    expect(await readdir(join(root, 'a'))).toEqual(['b']);
  });

  it('refuses to save over a directory with a PermanentError', async () => {
    const backend = new FsBackend(await freshRoot());
    await backend.save('dir/child', Buffer.from('x'));
    await expect(backend.save('dir', Buffer.from('y'))).rejects.toBeInstanceOf(PermanentError);
  });

  it('reports its properties', () => {
    expect(new FsBackend('/tmp/x').properties).toEqual({ connections: 8, hasAtomicReplace: true });
  });
});
