import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { takeAside } from './retired-segments.js';

const SPARE = 'spare.';
/** Bytes written at a time when a spare is made. */
const WRITE_BYTES = 1024 * 1024;

/**
 * Files of a segment's size that the agent wrote in the spool before it had anything to
 * place (`spare.<n>`, zeros), for the segments it fetches before recovery lets go of
 * the first placed ones (`RetiredSegments`). Writing a segment into a file whose pages
 * are in memory costs a copy; writing it into a new file costs fresh page-cache pages
 * as it goes (in this VM, 60% of the agent's CPU in a replay from the archive, more
 * than the decompression). Local pg_wal has its files written before a replay starts;
 * so do these. A spare is taken once; the segment written into it is retired and
 * reused as any placed segment is.
 */
export class SpareSegments {
  private readonly names: string[] = [];
  /** Takes one at a time: two fetches must not take one file. */
  private taking: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string) {}

  /**
   * Makes spares up to `count` of `size` bytes (counting those an earlier run left),
   * owned by the spool's owner (recovery reads what is written into them).
   */
  async fill(count: number, size: number, signal?: AbortSignal): Promise<void> {
    const entries = await readdir(this.dir);
    this.names.splice(0, this.names.length, ...entries.filter((name) => name.startsWith(SPARE)).sort());
    const owner = await stat(this.dir);
    const zeros = Buffer.alloc(Math.min(WRITE_BYTES, size));
    for (let n = 0; this.names.length < count && signal?.aborted !== true; n++) {
      const name = `${SPARE}${String(n).padStart(3, '0')}`;
      if (this.names.includes(name)) continue;
      const temp = join(this.dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        const file = await open(temp, 'wx', 0o600);
        try {
          for (let at = 0; at < size; at += zeros.length) {
            await file.write(zeros, 0, Math.min(zeros.length, size - at), at);
          }
          if (process.getuid?.() === 0 && owner.uid !== 0) await file.chown(owner.uid, owner.gid);
        } finally {
          await file.close();
        }
        await rename(temp, join(this.dir, name));
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      this.names.push(name);
    }
  }

  /** A spare of `size` bytes, moved aside in the spool for the caller alone; else undefined. */
  take(size: number): Promise<string | undefined> {
    const taken = this.taking.then(() => this.takeOne(size));
    this.taking = taken.catch(() => undefined);
    return taken;
  }

  private async takeOne(size: number): Promise<string | undefined> {
    for (;;) {
      const name = this.names.pop();
      if (name === undefined) return undefined;
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info === undefined) continue;
      // One of another size was made for another server's segments.
      const aside = await takeAside(this.dir, path, name, info.size === size);
      if (aside !== undefined) return aside;
    }
  }
}
