import { chmod, lchown } from 'node:fs/promises';
import { nativePath } from '../snapshot/file-name.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import type { ExactTimes } from './exact-times.js';

/** Sets a restored entry's owner (when restoring owners), mode and mtime. */
export class EntryMetadata {
  constructor(
    private readonly owner: boolean,
    private readonly times: ExactTimes,
  ) {}

  async apply(absolute: string, entry: TreeEntry): Promise<void> {
    await (await this.start(absolute, entry)).mtime;
  }

  /** Sets owner and mode, and starts setting the mtime: its promise comes back unawaited. */
  async start(absolute: string, entry: TreeEntry): Promise<{ mtime: Promise<void> }> {
    const path = nativePath(absolute);
    if (this.owner) await lchown(path, entry.uid, entry.gid);
    if (entry.type !== 'symlink') await chmod(path, entry.mode);
    return { mtime: this.times.set(path, entry.mtime) };
  }
}
