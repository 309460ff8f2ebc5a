import { createWriteStream } from 'node:fs';
import { mkdir, symlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';

/**
 * Extracts a tar stream into `dir`, as the archive's restore would lay the snapshot's
 * files out (modes and mtimes kept). Returns the member names.
 */
export async function extractTar(source: Readable, dir: string): Promise<string[]> {
  const names: string[] = [];
  const parser = extract();
  const done = (async () => {
    for await (const entry of parser) {
      const { header } = entry;
      const path = join(dir, header.name);
      names.push(header.name.replace(/\/$/, ''));
      if (header.type === 'directory') {
        await mkdir(path, { recursive: true, mode: header.mode });
        entry.resume();
      } else if (header.type === 'symlink') {
        await mkdir(dirname(path), { recursive: true });
        await symlink(header.linkname, path);
        entry.resume();
      } else {
        await mkdir(dirname(path), { recursive: true });
        await pipeline(entry, createWriteStream(path, { mode: header.mode }));
        await utimes(path, header.mtime, header.mtime);
      }
    }
  })();
  await Promise.all([pipeline(source, parser), done]);
  return names;
}
