import type { Archive } from '../repository/archive.js';
import type { WalFileName } from './wal-names.js';
import { parseWalObjectName, WAL_PREFIX, walStreamPrefix } from './wal-paths.js';

/** One stored WAL object, as the backend's list tells it (no body read). */
export interface WalObjectInfo {
  readonly stream: string;
  /** Without `.partial`. */
  readonly name: WalFileName;
  readonly timeline: number;
  readonly partial: boolean;
  readonly history: boolean;
  readonly storedBytes: number;
  /** The object's name in the archive. */
  readonly objectName: string;
}

/** The streams the archive holds WAL of, sorted. */
export async function listWalStreams(
  archive: Archive,
  options: { signal?: AbortSignal } = {},
): Promise<string[]> {
  const streams = new Set<string>();
  for await (const info of archive.backend.list(
    WAL_PREFIX,
    options.signal ? { signal: options.signal } : {},
  )) {
    const parsed = parseWalObjectName(info.name);
    if (parsed !== undefined) streams.add(parsed.stream);
  }
  return [...streams].sort();
}

/**
 * A stream's WAL objects, sorted by timeline, then name (a history file before the
 * segments of its timeline, a partial after its segment). Objects of other names
 * under the stream's prefix are not WAL and are left out.
 */
export async function listWal(
  archive: Archive,
  stream: string,
  options: { signal?: AbortSignal } = {},
): Promise<WalObjectInfo[]> {
  const found: WalObjectInfo[] = [];
  const prefix = walStreamPrefix(stream);
  for await (const info of archive.backend.list(prefix, options.signal ? { signal: options.signal } : {})) {
    const parsed = parseWalObjectName(info.name);
    if (parsed === undefined || parsed.stream !== stream) continue;
    found.push({
      stream,
      name: parsed.file.name,
      timeline: parsed.file.timeline,
      partial: parsed.file.partial,
      history: parsed.file.kind === 'history',
      storedBytes: info.size,
      objectName: info.name,
    });
  }
  return found.sort(compareWalObjects);
}

function compareWalObjects(a: WalObjectInfo, b: WalObjectInfo): number {
  if (a.timeline !== b.timeline) return a.timeline - b.timeline;
  if (a.history !== b.history) return a.history ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return Number(a.partial) - Number(b.partial);
}
