import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { comparePaths, type TreeEntry } from '../snapshot/tree-entry.js';

/** Lines held in memory before they go to a file. */
const MEMORY_BYTES = 4 * 1024 * 1024;

/**
 * Tree entries held back, in tree order, until entries that are read later (a backup's
 * `late` ones) can be put among them: in memory up to 4 MiB of JSON lines, then in a
 * file under the OS's temp directory, so a tree of millions of files costs no more
 * memory than a small one. `close` removes the file.
 */
export class HeldEntries {
  private lines: string[] = [];
  private bytes = 0;
  private spill: { dir: string; file: string; fd: number } | undefined;

  async add(entry: TreeEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= MEMORY_BYTES) await this.spillLines();
  }

  /** The held entries and `later` (sorted here), merged in tree order. */
  async *merged(later: readonly TreeEntry[]): AsyncGenerator<TreeEntry> {
    const sorted = [...later].sort((a, b) => comparePaths(a.path, b.path));
    let next = 0;
    for await (const entry of this.held()) {
      while (next < sorted.length && comparePaths(sorted[next]!.path, entry.path) < 0) yield sorted[next++]!;
      if (next < sorted.length && sorted[next]!.path === entry.path) {
        throw new Error(
          `${JSON.stringify(entry.path)} is given twice, among the first entries and the late ones`,
        );
      }
      yield entry;
    }
    while (next < sorted.length) yield sorted[next++]!;
  }

  async close(): Promise<void> {
    if (this.spill === undefined) return;
    closeSync(this.spill.fd);
    await rm(this.spill.dir, { recursive: true, force: true });
    this.spill = undefined;
  }

  private async *held(): AsyncGenerator<TreeEntry> {
    if (this.spill !== undefined) {
      const input = createReadStream(this.spill.file);
      try {
        const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
        for await (const line of lines) yield JSON.parse(line) as TreeEntry;
      } finally {
        // A merge that fails part way must not keep the removed file's space held open.
        input.destroy();
      }
    }
    for (const line of this.lines) yield JSON.parse(line) as TreeEntry;
  }

  private async spillLines(): Promise<void> {
    if (this.spill === undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'pullback-tree-'));
      const file = join(dir, 'entries');
      this.spill = { dir, file, fd: openSync(file, 'wx', 0o600) };
    }
    writeSync(this.spill.fd, this.lines.join(''));
    this.lines = [];
    this.bytes = 0;
  }
}
