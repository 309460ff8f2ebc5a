import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Which stream a spool's files belong to, so that leftovers go to the right one after a restart. */
export interface SpoolMeta {
  readonly stream: string;
  readonly segmentSize: number;
}

const META_FILE = 'pullback-spool.json';

export async function readSpoolMeta(spoolDir: string): Promise<SpoolMeta | undefined> {
  const text = await readFile(join(spoolDir, META_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const meta = JSON.parse(text) as SpoolMeta;
    return typeof meta.stream === 'string' && Number.isInteger(meta.segmentSize) ? meta : undefined;
  } catch {
    return undefined;
  }
}

export async function writeSpoolMeta(spoolDir: string, meta: SpoolMeta): Promise<void> {
  const path = join(spoolDir, META_FILE);
  await writeFile(`${path}.tmp`, `${JSON.stringify(meta)}\n`);
  await rename(`${path}.tmp`, path);
}
