import { closeSync, constants, openSync, read, readSync } from 'node:fs';
import { nativePath } from '../snapshot/file-name.js';

/** Fills `buffer` from `position` until it is full or the file ends; returns bytes read. */
export function readFully(fd: number, buffer: Buffer, position: number, length = buffer.length): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * `readFully` without blocking this thread: the reads run on libuv's pool, so a worker
 * can hash and compress one window while the disk fills the next.
 */
export async function readFullyAsync(
  fd: number,
  buffer: Buffer,
  position: number,
  length = buffer.length,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, buffer, done, length - done, position + done, (error, bytesRead) =>
        error ? reject(error) : resolve(bytesRead),
      ),
    );
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Opens for reading without following a final symlink (sources are lstat'ed first).
 * `path` is decoded (`decodeFileName`): a name that is not UTF-8 reaches the OS as its bytes.
 */
export function openForRead(path: string): number {
  return openSync(nativePath(path), constants.O_RDONLY | constants.O_NOFOLLOW);
}

export function withFd<T>(fd: number, use: (fd: number) => T): T {
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}
