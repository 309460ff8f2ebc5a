import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import {
  type Archive,
  initArchive,
  openArchive,
  restoreSnapshot,
  type Snapshot,
  SnapshotFiles,
} from '@pullback/archive';
import { scratchDir } from '@pullback/harness';
import {
  type Backend,
  type ByteRange,
  type ObjectInfo,
  type OperationOptions,
  openBackend,
  type SaveBody,
} from '@pullback/storage';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ArtifactWriter,
  encodePageDeltaHeader,
  INCREMENTAL_DESCRIPTION,
  ingestArtifact,
  PAGE_DELTA_DIR,
  PipelineError,
  readArtifactManifest,
  removeArtifact,
} from '../src/index.js';

// Real archive work on a shared 2-core machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const PAGE = 8192;
const RELATION = 'base/1/16384';
/** Regions of 32 pages (256 KiB) and superblocks of 4, so a 2 MiB file has 8 regions. */
const LAYOUT = { pageSize: PAGE, superblockPages: 4, regionPages: 32 };

/** A real backend that counts the bytes loaded from data packs (`data/`). */
class CountingBackend implements Backend {
  readonly location: string;
  readonly properties: Backend['properties'];
  dataBytes = 0;

  constructor(private readonly inner: Backend) {
    this.location = inner.location;
    this.properties = inner.properties;
  }

  save(name: string, body: SaveBody, options?: OperationOptions): Promise<void> {
    return this.inner.save(name, body, options);
  }

  remove(name: string, options?: OperationOptions): Promise<void> {
    return this.inner.remove(name, options);
  }

  async load(name: string, range?: ByteRange, options?: OperationOptions): Promise<Readable> {
    if (name.startsWith('data/'))
      this.dataBytes += range?.length ?? (await this.inner.stat(name, options)).size;
    return this.inner.load(name, range, options);
  }

  stat(name: string, options?: OperationOptions): Promise<ObjectInfo> {
    return this.inner.stat(name, options);
  }

  list(prefix: string, options?: OperationOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }
}

type Member = { name: string; type: 'directory' } | { name: string; type: 'file'; data: Buffer };

let root: { path: string; remove(): Promise<void> };
let archive: Archive;
let counting: CountingBackend;
let outbox: Backend;

beforeEach(async () => {
  root = await scratchDir('complete-incremental');
  const keyFile = join(root.path, 'archive.key');
  await initArchive({ archive: join(root.path, 'archive'), keyFile, pageLayout: LAYOUT });
  counting = new CountingBackend(openBackend(join(root.path, 'archive')));
  archive = await openArchive({ archive: counting, keyFile });
  outbox = openBackend(join(root.path, 'outbox'));
});

afterEach(async () => {
  await root?.remove();
});

/** An artifact of one tar holding `members`; incremental on `parent` when given. */
async function artifact(exportId: string, members: readonly Member[], parent?: string) {
  const writer = await ArtifactWriter.begin({ component: 'db', outbox, exportId });
  if (!(writer instanceof ArtifactWriter)) throw new Error('artifact exists');
  const tar = pack();
  const body = new PassThrough();
  tar.pipe(body);
  const saving = writer.saveStream('data.tar', body);
  for (const member of members) {
    if (member.type === 'directory') tar.entry({ name: member.name, type: 'directory', mode: 0o700 });
    else tar.entry({ name: member.name, type: 'file', mode: 0o600 }, member.data);
  }
  tar.finalize();
  await saving;
  return writer.commit({
    component: 'db',
    recipe: 'postgres',
    kind: 'physical',
    ...(parent === undefined ? {} : { details: { incremental: { parent } } }),
  });
}

function pages(count: number, seed: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, p) => Buffer.alloc(PAGE, (p * 31 + seed) % 251)));
}

/** A page delta of `final` holding `blocks`. */
function delta(final: Buffer, blocks: readonly number[]): Buffer {
  return Buffer.concat([
    encodePageDeltaHeader({ pageSize: PAGE, fileSize: final.length, blocks: Uint32Array.from(blocks) }),
    ...blocks.map((block) => final.subarray(block * PAGE, (block + 1) * PAGE)),
  ]);
}

async function ingest(exportId: string, parent?: Snapshot): Promise<Snapshot> {
  const manifest = (await readArtifactManifest(outbox, exportId))!;
  return ingestArtifact({
    archive,
    outbox,
    manifest,
    stagingDir: join(root.path, 'staging'),
    tags: { component: 'db', kind: 'physical', exportId },
    parent: parent?.id ?? null,
    ...(parent === undefined ? {} : { incrementalParent: parent }),
    workers: 0,
  });
}

/** Restores `snapshot` and reads `paths` back. */
async function restored(snapshot: Snapshot, ...paths: string[]): Promise<Buffer[]> {
  const target = join(root.path, `restored-${snapshot.id.slice(0, 8)}`);
  await restoreSnapshot(archive, snapshot.id, { target });
  return Promise.all(paths.map((path) => readFile(join(target, path))));
}

/** The parent: the relation file and a small one, stored in full. */
async function fullExport(relation: Buffer): Promise<Snapshot> {
  await artifact('exp-1', [
    { name: 'base', type: 'directory' },
    { name: 'base/1', type: 'directory' },
    { name: RELATION, type: 'file', data: relation },
    { name: 'base/1/16390', type: 'file', data: pages(3, 9) },
  ]);
  return ingest('exp-1');
}

/** An incremental export on exp-1: the relation file as a page delta, the small one as `small` (a delta too, when given). */
async function incremental(relationDelta: Buffer, small?: Buffer): Promise<void> {
  await artifact(
    'exp-2',
    [
      { name: 'base', type: 'directory' },
      { name: 'base/1', type: 'directory' },
      {
        name: INCREMENTAL_DESCRIPTION,
        type: 'file',
        data: Buffer.from(JSON.stringify({ parent: 'exp-1', unchanged: small ? [] : ['base/1/16390'] })),
      },
      { name: `${PAGE_DELTA_DIR}/${RELATION}`, type: 'file', data: relationDelta },
      ...(small ? [{ name: `${PAGE_DELTA_DIR}/base/1/16390`, type: 'file' as const, data: small }] : []),
    ],
    'exp-1',
  );
}

describe('the pull of an incremental export', () => {
  it("lays page deltas over the parent's page maps: none of its unchanged regions is read, and it restores exactly", async () => {
    // 2 MiB of incompressible pages: 8 regions of 256 KiB.
    const parent = randomBytes(256 * PAGE);
    const first = await fullExport(parent);
    // A page in region 0 and one in region 5, and 3 pages grown at the end.
    const final = Buffer.concat([parent, randomBytes(3 * PAGE)]);
    const changed = [2, 5 * 32 + 17, 256, 257, 258];
    for (const block of changed.slice(0, 2)) randomBytes(PAGE).copy(final, block * PAGE);
    // The small file (40 KiB, stored whole) grows by a page: laid over its bytes as before.
    const small = Buffer.concat([pages(3, 9), pages(2, 77)]);
    await incremental(delta(final, changed), delta(small, [3, 4]));
    counting.dataBytes = 0;
    const second = await ingest('exp-2', first);
    // Of the parent's 2 MiB, only the two superblocks (32 KiB each) holding a changed
    // page, and the small file's bundle: reading the parent's file back costs it all.
    expect(counting.dataBytes).toBeLessThan(256 * 1024);
    expect(second.stats.bytesRead).toBeLessThan(256 * 1024);
    const [relation, smallFile] = await restored(second, RELATION, 'base/1/16390');
    expect(relation!.equals(final)).toBe(true);
    expect(smallFile!.equals(small)).toBe(true);
    // The regions without a change are the parent's maps as they are.
    const maps = async (snapshot: Snapshot) => {
      const files = await SnapshotFiles.open(archive, snapshot);
      for await (const entry of files.entries()) {
        if (entry.path === RELATION && entry.content && 'pages' in entry.content) return entry.content.pages;
      }
      throw new Error('no relation file');
    };
    const [before, after] = [await maps(first), await maps(second)];
    expect(after.filter((id, r) => id === before[r])).toHaveLength(6);
  });

  it('refuses a delta past its end (corrupt-artifact) and one the parent is too short for (stale-parent)', async () => {
    const parent = randomBytes(64 * PAGE);
    const first = await fullExport(parent);
    const final = Buffer.concat([parent, randomBytes(2 * PAGE)]);
    // Block 66 of a file of 66 pages.
    const past = delta(Buffer.concat([final, randomBytes(PAGE)]), [3, 66]);
    past.writeBigUInt64LE(BigInt(final.length), 9);
    await incremental(past);
    const corrupt = await ingest('exp-2', first).catch((error: unknown) => error);
    expect(corrupt).toMatchObject({ code: 'corrupt-artifact' });
    expect((corrupt as Error).message).toMatch(/holds block 66, past its end/);
    await removeArtifact(outbox, 'exp-2');
    // Grown by two pages, and only one of them in the delta.
    await incremental(delta(final, [3, 65]));
    const refusal = await ingest('exp-2', first).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(PipelineError);
    expect(refusal).toMatchObject({ code: 'stale-parent' });
    expect((refusal as Error).message).toMatch(/shorter than the delta assumes/);
  });
});
