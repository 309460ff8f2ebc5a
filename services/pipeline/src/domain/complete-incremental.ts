import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Archive,
  canOverlayPages,
  comparePaths,
  listedStats,
  type Snapshot,
  SnapshotFiles,
  type SourceEntry,
  type SourceStats,
  type TreeEntry,
} from '@pullback/archive';
import { corruptArtifact } from '../artifact/check.js';
import type { ArtifactManifest } from '../artifact/format.js';
import {
  decodePageDeltaHead,
  INCREMENTAL_DESCRIPTION,
  INCREMENTAL_DIR,
  type IncrementalDescription,
  PAGE_DELTA_DIR,
  PAGE_DELTA_HEAD,
} from '../artifact/incremental.js';
import { PipelineError } from './errors.js';

/** The incremental part of an artifact's COMPLETE (`details.incremental`). */
export function incrementalParentOf(manifest: ArtifactManifest): string | undefined {
  const incremental = manifest.details?.incremental as { parent?: unknown } | undefined;
  return typeof incremental?.parent === 'string' ? incremental.parent : undefined;
}

/** An incremental artifact whose parent is not the snapshot it must be completed against. */
export function staleParent(manifest: ArtifactManifest, why: string): PipelineError {
  return new PipelineError(
    'stale-parent',
    `artifact ${manifest.exportId} of ${manifest.component} is incremental on export ${incrementalParentOf(manifest)}, ${why}`,
    { hint: 'export again with --full (the next scheduled export reads everything)' },
  );
}

/**
 * The complete tree of an incremental artifact (artifact/incremental.ts), as entries
 * for `backupTree`: its own entries, less INCREMENTAL_DIR; each file it names unchanged
 * as the parent's entry (same size and times, so the archive takes the parent's
 * content without reading a byte); and each page delta as the parent's entry with the
 * delta's pages laid over it (a `PageOverlay`: the archive reads only the new pages and
 * the parent's superblocks that hold one, nothing is staged). A parent not stored as
 * pages (a small file, or chunks) has the delta laid over its file instead, streamed
 * into `workDir` (the parent's bytes read from the archive one blob at a time, never a
 * whole file in memory). Run under the archive's shared lock (inside backupTree's
 * source). A file the parent lacks, or a delta that does not fit it, fails with
 * `stale-parent` (a delta that is not one: `corrupt-artifact`): never a wrong snapshot.
 */
export async function completeIncremental(
  archive: Archive,
  manifest: ArtifactManifest,
  entries: readonly SourceEntry[],
  parent: Snapshot,
  workDir: string,
  signal?: AbortSignal,
): Promise<SourceEntry[]> {
  const own: SourceEntry[] = [];
  const deltas = new Map<string, SourceEntry>();
  let description: IncrementalDescription | undefined;
  for (const entry of entries) {
    if (entry.path === INCREMENTAL_DESCRIPTION) {
      description = JSON.parse((await sliceOf(entry, 0, Number(entry.stats.size))).toString('utf8'));
    } else if (entry.path.startsWith(`${PAGE_DELTA_DIR}/`) && entry.stats.isFile()) {
      deltas.set(entry.path.slice(PAGE_DELTA_DIR.length + 1), entry);
    } else if (entry.path !== INCREMENTAL_DIR && !entry.path.startsWith(`${INCREMENTAL_DIR}/`)) {
      own.push(entry);
    }
  }
  if (description === undefined || description.parent !== incrementalParentOf(manifest)) {
    throw corruptArtifact(manifest, `${INCREMENTAL_DESCRIPTION} is missing or names another parent`);
  }
  const unchanged = new Set(description.unchanged);
  const files = await SnapshotFiles.open(archive, parent, signal);
  const added: SourceEntry[] = [];
  let made = 0;
  for await (const entry of files.entries()) {
    if (entry.type !== 'file') continue;
    if (unchanged.delete(entry.path)) {
      added.push({ path: entry.path, absolute: '', stats: statsOf(entry, BigInt(entry.ctime ?? '0')) });
      continue;
    }
    const delta = deltas.get(entry.path);
    if (delta === undefined) continue;
    deltas.delete(entry.path);
    const head = await readDelta(delta, entry, manifest);
    const stats = (size: number): SourceStats => ({
      ...statsOf({ ...entry, size }, BigInt(Date.now()) * 1_000_000n),
      mode: delta.stats.mode,
      mtimeNs: delta.stats.mtimeNs,
    });
    if (canOverlayPages(archive.config, entry, head.fileSize, head.pageSize)) {
      // Laid over the parent's page maps inside the archive: nothing staged, and of
      // the parent only the superblocks holding a changed page are read.
      added.push({
        path: entry.path,
        absolute: '',
        stats: stats(head.fileSize),
        overlay: {
          parent: entry,
          path: delta.absolute,
          at: (delta.base ?? 0) + PAGE_DELTA_HEAD,
          count: head.count,
        },
      });
      continue;
    }
    const absolute = join(workDir, `file-${made++}`);
    const size = await layPages(files, entry, delta, head, absolute, manifest);
    added.push({ path: entry.path, absolute, stats: stats(size) });
  }
  const missing = [...unchanged, ...deltas.keys()];
  if (missing.length > 0) {
    await rm(workDir, { recursive: true, force: true });
    throw staleParent(
      manifest,
      `whose snapshot ${parent.id.slice(0, 12)} lacks ${missing.length} of the files it builds on (${missing[0]})`,
    );
  }
  return [...own, ...added].sort((a, b) => comparePaths(a.path, b.path));
}

/** `length` bytes of a tar member from `offset` into it. */
async function sliceOf(entry: SourceEntry, offset: number, length: number): Promise<Buffer> {
  const handle = await open(entry.absolute, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, (entry.base ?? 0) + offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A page delta's head and block numbers (4 bytes a page it holds), checked against the parent's entry. */
interface DeltaHead {
  readonly pageSize: number;
  readonly fileSize: number;
  readonly count: number;
  readonly blocks: Buffer;
}

/**
 * Reads and checks a page delta's head and block numbers: it holds the pages it
 * announces (else `corrupt-artifact`), each inside the new size and in increasing order
 * (else `corrupt-artifact`), and every page past the parent's end (else `stale-parent`:
 * the parent's copy is shorter than the delta assumes).
 */
async function readDelta(
  delta: SourceEntry,
  parent: TreeEntry,
  manifest: ArtifactManifest,
): Promise<DeltaHead> {
  let head: ReturnType<typeof decodePageDeltaHead>;
  try {
    head = decodePageDeltaHead(await sliceOf(delta, 0, PAGE_DELTA_HEAD));
  } catch (error) {
    throw corruptArtifact(manifest, `the page delta of ${parent.path}: ${(error as Error).message}`);
  }
  const { pageSize, fileSize, count } = head;
  if (Number(delta.stats.size) !== PAGE_DELTA_HEAD + count * (4 + pageSize)) {
    throw corruptArtifact(
      manifest,
      `the page delta of ${parent.path} does not hold the ${count} pages it announces`,
    );
  }
  const blocks = await sliceOf(delta, PAGE_DELTA_HEAD, count * 4);
  if (blocks.length !== count * 4)
    throw corruptArtifact(manifest, `the page delta of ${parent.path} is cut short`);
  const parentPages = Math.ceil(Math.min(parent.size ?? 0, fileSize) / pageSize);
  let pastParent = 0;
  for (let i = 0; i < count; i++) {
    const block = blocks.readUInt32LE(i * 4);
    if ((block + 1) * pageSize > fileSize) {
      throw corruptArtifact(manifest, `the page delta of ${parent.path} holds block ${block}, past its end`);
    }
    if (i > 0 && block <= blocks.readUInt32LE(i * 4 - 4)) {
      throw corruptArtifact(manifest, `the page delta of ${parent.path} holds block ${block} out of order`);
    }
    if (block >= parentPages) pastParent++;
  }
  // Every page past the parent's end must come from the delta.
  if (fileSize > (parent.size ?? 0) && pastParent !== Math.ceil(fileSize / pageSize) - parentPages) {
    throw staleParent(manifest, `whose copy of ${parent.path} is shorter than the delta assumes`);
  }
  return { pageSize, fileSize, count, blocks };
}

/**
 * Writes the file a page delta makes of the parent's file into `absolute`: the parent's
 * bytes streamed, each page the delta holds written in place of the parent's, the
 * result cut or extended to the delta's size. Returns that size. For a parent not
 * stored as pages (`canOverlayPages`), which the archive cannot lay pages over.
 */
async function layPages(
  files: SnapshotFiles,
  parent: TreeEntry,
  delta: SourceEntry,
  head: DeltaHead,
  absolute: string,
  manifest: ArtifactManifest,
): Promise<number> {
  const tar = await open(delta.absolute, 'r');
  const output = await open(absolute, 'wx', 0o600).catch(async (error: unknown) => {
    await tar.close();
    throw error;
  });
  try {
    const base = delta.base ?? 0;
    const read = async (offset: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await tar.read(buffer, 0, length, base + offset);
      if (bytesRead !== length)
        throw corruptArtifact(manifest, `the page delta of ${parent.path} is cut short`);
      return buffer;
    };
    const { pageSize, fileSize, count, blocks } = head;
    // The parent's bytes first, up to the new size.
    let written = 0;
    for await (const piece of files.content(parent)) {
      if (written >= fileSize) break;
      const take = piece.subarray(0, Math.min(piece.length, fileSize - written));
      await output.write(take, 0, take.length, written);
      written += take.length;
    }
    if (written !== Math.min(parent.size ?? 0, fileSize)) {
      throw staleParent(manifest, `whose copy of ${parent.path} is shorter than the delta assumes`);
    }
    await output.truncate(fileSize);
    // Then the changed pages over them, a batch at a time (they follow each other in the member).
    for (let index = 0; index < count; index += PAGES_AT_ONCE) {
      const batch = Math.min(PAGES_AT_ONCE, count - index);
      const pages = await read(PAGE_DELTA_HEAD + count * 4 + index * pageSize, batch * pageSize);
      for (let i = 0; i < batch; i++) {
        const block = blocks.readUInt32LE((index + i) * 4);
        await output.write(pages, i * pageSize, pageSize, block * pageSize);
      }
    }
    return fileSize;
  } finally {
    await output.close();
    await tar.close();
  }
}

/** Pages of a delta read at once. */
const PAGES_AT_ONCE = 128;

/** The stats of the parent's file `entry`, with `ctimeNs`. */
function statsOf(entry: TreeEntry, ctimeNs: bigint): SourceStats {
  return listedStats({
    ...entry,
    type: 'file',
    mtimeNs: BigInt(entry.mtime),
    ctimeNs,
    size: entry.size ?? 0,
  });
}
