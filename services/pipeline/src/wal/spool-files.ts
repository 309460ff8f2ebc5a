import { readdir } from 'node:fs/promises';
import { parseWalName, segmentStart } from '@pullback/archive';

/** A file pg_receivewal (or any receiver) left in the spool. */
export interface SpoolFile {
  /** The file's name in the spool. */
  readonly file: string;
  /** Its name in the archive: the segment (without `.partial`) or the history file. */
  readonly name: string;
  readonly kind: 'segment' | 'partial' | 'history';
  readonly timeline: number;
  /** LSN of the segment's first byte (0 for history files). */
  readonly start: bigint;
}

/**
 * The WAL files in the spool, in the order they must be stored: history files first
 * (a timeline's history before its segments), then segments by position, the older
 * timeline first. Other files (the receiver's own, temporaries) are left alone.
 */
export async function listSpool(spoolDir: string, segmentSize: number): Promise<SpoolFile[]> {
  const files: SpoolFile[] = [];
  for (const file of await readdir(spoolDir).catch(() => [] as string[])) {
    const parsed = parseWalName(file);
    if (parsed === undefined) continue;
    const { name, timeline } = parsed;
    if (parsed.kind === 'history') files.push({ file, name, kind: 'history', timeline, start: 0n });
    else {
      const kind = parsed.partial ? 'partial' : 'segment';
      files.push({ file, name, kind, timeline, start: segmentStart(name, segmentSize) });
    }
  }
  const rank = (file: SpoolFile) => (file.kind === 'history' ? 0 : 1);
  return files.sort(
    (a, b) =>
      rank(a) - rank(b) || (a.start < b.start ? -1 : a.start > b.start ? 1 : 0) || a.timeline - b.timeline,
  );
}
