import { lstat, open, opendir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Header, pack } from 'tar-stream';

/** What a packed tree held. */
export interface TreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Sockets, fifos and devices: a backup cannot hold them. */
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
  options: { signal?: AbortSignal } = {},
): { stream: Readable; stats: TreeStats } {
  const stats: TreeStats = { files: 0, dirs: 0, symlinks: 0, skipped: 0, bytes: 0 };
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
    const names: string[] = [];
    for await (const entry of await opendir(dir)) names.push(entry.name);
    names.sort();
    for (const child of names) {
      options.signal?.throwIfAborted();
      const path = join(dir, child);
      const name = prefix === '' ? child : `${prefix}/${child}`;
      // Gone between the listing and now: it is simply not in this backup.
      const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (info === undefined) continue;
      if (info.isDirectory()) {
        await addEntry({ name, type: 'directory', ...modeOf(info) });
        stats.dirs++;
        await walk(path, name);
      } else if (info.isSymbolicLink()) {
        await addEntry({ name, type: 'symlink', linkname: await readlink(path), ...modeOf(info) });
        stats.symlinks++;
      } else if (info.isFile()) {
        await addFile(path, name);
      } else {
        stats.skipped++;
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
