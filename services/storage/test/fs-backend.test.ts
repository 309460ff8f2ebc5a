import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../src/errors.js';
import { FsBackend } from '../src/fs-backend.js';
import { RetryBackend } from '../src/retry-backend.js';
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

/** `name mode` of `root` itself ("/") and everything under it, directories ending in "/". */
async function modesUnder(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const mode = ((await lstat(path)).mode & 0o777).toString(8);
      lines.push(`${prefix}${entry.name}${entry.isDirectory() ? '/' : ''} ${mode}`);
      if (entry.isDirectory()) await walk(path, `${prefix}${entry.name}/`);
    }
  };
  lines.push(`/ ${((await lstat(root)).mode & 0o777).toString(8)}`);
  await walk(root, '');
  return lines.sort();
}

/** A stream of `size` zero bytes in 64 KiB chunks. */
function zeroStream(size: number): Readable {
  return Readable.from(
    (function* () {
      for (let left = size; left > 0; left -= 65_536) yield Buffer.alloc(Math.min(left, 65_536));
    })(),
  );
}

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

  it('writes objects 0600 and directories 0700 whatever the umask', async () => {
    const root = join(await freshRoot(), 'archive');
    const backend = new FsBackend(root);
    const previous = process.umask(0);
    try {
      await backend.save('keys/abc', Buffer.from('key'));
      await backend.save('data/ab/abcdef', () => zeroStream(2 * 1024 * 1024));
      await backend.save('config', Buffer.from('config'));
    } finally {
      process.umask(previous);
    }
    expect(await modesUnder(root)).toEqual([
      '.tmp/ 700',
      '/ 700',
      'config 600',
      'data/ 700',
      'data/ab/ 700',
      'data/ab/abcdef 600',
      'keys/ 700',
      'keys/abc 600',
    ]);
  });

  it('reports its properties', () => {
    expect(new FsBackend('/tmp/x').properties).toEqual({ connections: 8, hasAtomicReplace: true });
  });
});

// A real full disk: a 1 MiB tmpfs (mounting needs root; skipped where that is refused).
const tmpfsRoot = await mkdtemp(join(tmpdir(), 'pullback-full-disk-'));
const mounted = (() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', tmpfsRoot], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(mounted)('fs backend on a full disk', () => {
  afterAll(() => {
    execFileSync('umount', [tmpfsRoot]);
    execFileSync('rmdir', [tmpfsRoot]);
  });

  it('reports ENOSPC at once through the retry wrapper, leaving no temp file', async () => {
    const backend = new RetryBackend(new FsBackend(tmpfsRoot));
    const started = Date.now();
    await expect(backend.save('data/big', Buffer.alloc(2 * 1024 * 1024, 1))).rejects.toThrow(
      /^data\/big: ENOSPC: no space left on device/,
    );
    await expect(backend.save('data/streamed', () => zeroStream(2 * 1024 * 1024))).rejects.toThrow(/ENOSPC/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await readdir(join(tmpfsRoot, '.tmp'))).toEqual([]);
  }, 20_000);
});

describe('FsBackend without durability (durable: false)', () => {
  /** Counts the fsyncs of every file handle while `run` runs. */
  async function syncsDuring(run: () => Promise<void>): Promise<number> {
    const probe = await open(join(tmpdir(), `fs-backend-probe-${process.pid}`), 'w');
    const prototype = Object.getPrototypeOf(probe) as {
      sync: () => Promise<void>;
      datasync: () => Promise<void>;
    };
    await probe.close();
    await rm(join(tmpdir(), `fs-backend-probe-${process.pid}`), { force: true });
    const { sync, datasync } = prototype;
    let count = 0;
    prototype.sync = function (this: unknown) {
      count++;
      return sync.call(this);
    };
    prototype.datasync = function (this: unknown) {
      count++;
      return datasync.call(this);
    };
    try {
      await run();
    } finally {
      prototype.sync = sync;
      prototype.datasync = datasync;
    }
    return count;
  }

  it('saves buffers and streams whole and atomically, and never fsyncs; a durable backend does', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fs-backend-fast-'));
    try {
      const bytes = Buffer.alloc(3 * 1024 * 1024, 7);
      const saveBoth = (backend: FsBackend, prefix: string) => async () => {
        await backend.save(`${prefix}/a/buffer`, bytes);
        await backend.save(`${prefix}/b/stream`, Readable.from([bytes, bytes]));
      };
      const fast = new FsBackend(root, { durable: false });
      expect(await syncsDuring(saveBoth(fast, 'fast'))).toBe(0);
      expect((await fast.stat('fast/a/buffer')).size).toBe(bytes.length);
      expect((await fast.stat('fast/b/stream')).size).toBe(2 * bytes.length);
      // No temporary file left behind, as with a durable save.
      const names: string[] = [];
      for await (const object of fast.list('')) names.push(object.name);
      expect(names.sort()).toEqual(['fast/a/buffer', 'fast/b/stream']);
      expect(await syncsDuring(saveBoth(new FsBackend(root), 'durable'))).toBeGreaterThanOrEqual(4);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
