import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { specialKind } from '@pullback/archive';
import { type Header, pack } from 'tar-stream';

/** What a packed tree held. */
export interface TreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  /**
   * Entries left out, each told to `onWarning`: sockets, fifos and devices (a backup
   * cannot hold them), entries that vanished or may not be read, and names that are
   * not UTF-8 (a tar member's name is text here).
   */
  skipped: number;
  /** Bytes of file contents. */
  bytes: number;
}

/**
 * A directory tree as a tar stream: every directory (empty ones too), file and
 * symlink under `root`, with modes, mtimes and owners, names relative to `root`,
 * in a stable order. Contents are streamed from disk as the consumer reads, never
 * held whole. Hard links are stored as separate files (the archive dedups them).
 * `stats` is complete once the stream has ended.
 */
export function packTree(
  root: string,
  options: { signal?: AbortSignal; onWarning?: (message: string) => void } = {},
): { stream: Readable; stats: TreeStats } {
  const stats: TreeStats = { files: 0, dirs: 0, symlinks: 0, skipped: 0, bytes: 0 };
  const skip = (name: string, why: string) => {
    stats.skipped++;
    options.onWarning?.(`skipped ${JSON.stringify(name === '' ? '.' : name)}: ${why}`);
  };
  /** Runs `read`; an entry that vanished or may not be read is skipped (undefined) instead of failing the export. */
  const orSkip = async <T>(name: string, what: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT' || code === 'ENOTDIR'
          ? 'vanished'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : undefined;
      if (why === undefined) throw error;
      skip(name, `${what} (${why})`);
      return undefined;
    }
  };
  const archive = pack();

  const addEntry = (header: Header | (Partial<Header> & { name: string }), body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      archive.entry(header, body ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
    });

  const addFile = async (path: string, name: string): Promise<void> => {
    const handle = await open(path, 'r');
    try {
      // The size of the open file, so the header matches what is read from it.
      const info = await handle.stat();
      const header = { name, type: 'file' as const, size: info.size, ...modeOf(info) };
      if (info.size === 0) {
        await addEntry(header);
      } else {
        let done: () => void = () => {};
        let failed: (error: Error) => void = () => {};
        const written = new Promise<void>((resolve, reject) => {
          done = resolve;
          failed = reject;
        });
        const entry = archive.entry(header, (error) => (error ? failed(error) : done()));
        // A file that grew is read up to the size in its header; one that shrank fails below.
        const source = handle.createReadStream({ start: 0, end: info.size - 1, autoClose: false });
        await pipeline(source, entry as unknown as NodeJS.WritableStream).catch((error: Error) => {
          throw new Error(`${path} changed while it was read: ${error.message}`, { cause: error });
        });
        await written;
      }
      stats.files++;
      stats.bytes += info.size;
    } finally {
      await handle.close();
    }
  };

  const walk = async (dir: string, prefix: string): Promise<void> => {
    const raw = await orSkip(prefix, 'cannot list the directory', () => readdir(dir, { encoding: 'buffer' }));
    const names: string[] = [];
    for (const bytes of raw ?? []) {
      const child = bytes.toString('utf8');
      if (Buffer.from(child).equals(bytes)) names.push(child);
      else
        skip(`${prefix === '' ? '' : `${prefix}/`}${child}`, 'name is not UTF-8 (a tar member name is text)');
    }
    names.sort();
    for (const child of names) {
      options.signal?.throwIfAborted();
      const path = join(dir, child);
      const name = prefix === '' ? child : `${prefix}/${child}`;
      const info = await orSkip(name, 'cannot read its status', () => lstat(path));
      if (info === undefined) continue;
      if (info.isDirectory()) {
        await addEntry({ name, type: 'directory', ...modeOf(info) });
        stats.dirs++;
        await walk(path, name);
      } else if (info.isSymbolicLink()) {
        const linkname = await orSkip(name, 'cannot read the link', () => readlink(path));
        if (linkname === undefined) continue;
        await addEntry({ name, type: 'symlink', linkname, ...modeOf(info) });
        stats.symlinks++;
      } else if (info.isFile()) {
        await orSkip(name, 'cannot read the file', () => addFile(path, name));
      } else {
        skip(name, `a ${specialKind(info.mode)} (not stored)`);
      }
    }
  };

  (async () => {
    const info = await lstat(root).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? 'does not exist' : `cannot be read (${error.code})`;
      throw Object.assign(new Error(`${root} ${why}`, { cause: error }), { code: error.code });
    });
    if (!info.isDirectory()) {
      throw Object.assign(new Error(`${root} is not a directory`), { code: 'ENOTDIR' });
    }
    await walk(root, '');
    archive.finalize();
  })().catch((error: unknown) => archive.destroy(error as Error));

  return { stream: Readable.from(archive, { objectMode: false }), stats };
}

function modeOf(info: { mode: number; mtime: Date; uid: number; gid: number }) {
  return { mode: info.mode & 0o7777, mtime: info.mtime, uid: info.uid, gid: info.gid };
}
