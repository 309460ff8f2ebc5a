import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const RETIRED = 'retired.';

/**
 * Segments placed in pg_wal that recovery has moved past, each still linked in the
 * spool as `retired.<name>` (the restore command looks only at `placed.` links). When
 * the server removes its name at a restartpoint, our link is the file's last one: its
 * 16 MiB are still pages in memory, and writing the next segment over them costs a
 * copy, where a new file costs fresh pages to fault in (in this VM, dearer than the
 * decompression). The server removes its oldest segments first, so only the oldest
 * retired file is looked at. A file the server still names is never written.
 */
export class RetiredSegments {
  /** Oldest first. */
  private readonly names: string[] = [];
  /** Selections one at a time: two fetches must not take one file. */
  private taking: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    /** Links kept at most: past it the oldest goes (the server may keep its segments long). */
    private readonly limit: number,
  ) {}

  /** Takes up the retired links an earlier run left in the spool. */
  async adopt(): Promise<void> {
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    for (const entry of entries.filter((name) => name.startsWith(RETIRED)).sort()) {
      this.names.push(entry.slice(RETIRED.length));
    }
    await this.trim();
  }

  /** Renames the `placed` link of `name` (in the spool) to its retired link. */
  async retire(placedLink: string, name: string): Promise<void> {
    try {
      await rename(join(this.dir, placedLink), join(this.dir, `${RETIRED}${name}`));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    this.names.push(name);
    await this.trim();
  }

  /**
   * The oldest retired file, when the server has let go of it (its only link ours) and
   * it is `size` bytes, moved aside in the spool for the caller alone; else undefined.
   */
  take(size: number): Promise<string | undefined> {
    const taken = this.taking.then(() => this.takeOldest(size));
    this.taking = taken.catch(() => undefined);
    return taken;
  }

  /**
   * Drops our retired link to the file `ino` on `dev`, when there is one: the server
   * recycled that file under the name of a segment about to be written into it, and no
   * `take` may give it out as well. Returns whether it was dropped.
   */
  release(ino: number, dev: number): Promise<boolean> {
    const released = this.taking.then(async () => {
      for (const [index, name] of this.names.entries()) {
        const path = join(this.dir, `${RETIRED}${name}`);
        const info = await stat(path).catch(() => undefined);
        if (info?.ino !== ino || info.dev !== dev) continue;
        await rm(path, { force: true });
        this.names.splice(index, 1);
        return true;
      }
      return false;
    });
    this.taking = released.catch(() => undefined);
    return released;
  }

  /** Removes every retired link (recovery streams: nothing will be placed for a while). */
  async clear(): Promise<void> {
    for (const name of this.names.splice(0)) await rm(join(this.dir, `${RETIRED}${name}`), { force: true });
  }

  private async takeOldest(size: number): Promise<string | undefined> {
    for (;;) {
      const name = this.names[0];
      if (name === undefined) return undefined;
      const path = join(this.dir, `${RETIRED}${name}`);
      const info = await stat(path).catch(() => undefined);
      if (info !== undefined && info.nlink > 1) return undefined;
      this.names.shift();
      if (info === undefined) continue;
      const aside = await takeAside(this.dir, path, name, info.size === size);
      if (aside !== undefined) return aside;
    }
  }

  private async trim(): Promise<void> {
    while (this.names.length > this.limit) {
      const name = this.names.shift()!;
      await rm(join(this.dir, `${RETIRED}${name}`), { force: true });
    }
  }
}

/**
 * A file of the spool to write a segment into, moved aside (named after `label`) for
 * one caller, so that no other takes it; one that `fits` not (another size) is removed.
 */
export async function takeAside(
  dir: string,
  path: string,
  label: string,
  fits: boolean,
): Promise<string | undefined> {
  if (!fits) {
    await rm(path, { force: true });
    return undefined;
  }
  const aside = join(dir, `.${label}.${randomBytes(4).toString('hex')}.reuse`);
  await rename(path, aside);
  return aside;
}
