/*
 * Fuzz test of the pull's tar reader: real tars (pg_basebackup's, GNU tar's) mutated,
 * tars of generated members, and random bytes. Each case either ingests into a
 * snapshot that restores to exactly what the reader listed, or is refused as a corrupt
 * artifact within a second; never a hang, an error of another kind, or a committed
 * snapshot that cannot be restored. A failure prints fast-check's seed and path:
 * replay it with FUZZ_SEED=<seed> FUZZ_PATH=<path> (FUZZ_SHRINK=1 to shrink it too);
 * FUZZ_RUNS sets the number of cases.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import {
  type Archive,
  decodeFileName,
  fsPath,
  initArchive,
  listSnapshots,
  restoreSnapshot,
  type SourceEntry,
} from '@pullback/archive';
import { openBackend } from '@pullback/storage';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_FORMAT, type ArtifactManifest } from '../src/artifact/format.js';
import type { Outbox } from '../src/artifact/outbox.js';
import { artifactTree } from '../src/artifact/tree.js';
import { ingestArtifact } from '../src/domain/ingest-artifact.js';
import { generatedTar, mutatedTar, randomTar, type TarCase } from './helpers/tar-mutations.js';
import { basebackupSeed, gnuTarSeeds, type SeedTar } from './helpers/tar-seeds.js';

/** A refusal takes this long at most; a case that takes far longer is a hang. */
const REFUSAL_MS = 1000;
const HANG_MS = 5_000;

let scratch: { path: string; remove(): Promise<void> };
let archive: Archive;
let outbox: Outbox;
let seeds: SeedTar[];

beforeAll(async () => {
  // In memory when the system has it: every archive object is fsynced, and on a
  // loaded disk that, not the reader under test, would take most of the time.
  const path = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'pullback-tar-fuzz-'));
  scratch = { path, remove: () => rm(path, { recursive: true, force: true }) };
  ({ archive } = await initArchive({
    archive: join(scratch.path, 'archive'),
    keyFile: join(scratch.path, 'archive.key'),
  }));
  outbox = openBackend(join(scratch.path, 'outbox'));
  await mkdir(join(scratch.path, 'seeds', 'pg'), { recursive: true });
  seeds = [
    await basebackupSeed(join(scratch.path, 'seeds', 'pg')),
    ...(await gnuTarSeeds(join(scratch.path, 'seeds'))),
  ];
}, 180_000);

afterAll(async () => {
  await scratch?.remove();
});

let cases = 0;
let committed = 0;
let lastSnapshot: string | null = null;

/** Puts `tar` in the outbox as artifact `exportId` and returns its COMPLETE, as an export would. */
async function artifactOf(exportId: string, tar: Buffer): Promise<ArtifactManifest> {
  const name = `${exportId}/tree.tar`;
  // As the outbox's driver would store it, without its fsyncs.
  await mkdir(join(scratch.path, 'outbox', exportId), { recursive: true });
  await writeFile(join(scratch.path, 'outbox', name), tar);
  const now = new Date().toISOString();
  return {
    format: ARTIFACT_FORMAT,
    exportId,
    component: 'fuzz',
    recipe: 'tree',
    kind: 'physical',
    host: 'fuzz',
    startedAt: now,
    finishedAt: now,
    objects: [
      { name, size: tar.length, blake3: new Blake3Hasher().update(tar).digestBuffer().toString('hex') },
    ],
  };
}

/** Rejects with "hang" when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} took more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** One case: refused as corrupt at once, or ingested into a snapshot that restores to what was listed. */
async function checkCase({ tar }: TarCase): Promise<void> {
  const exportId = `c${++cases}`;
  const manifest = await artifactOf(exportId, tar);
  const file = join(scratch.path, 'outbox', exportId, 'tree.tar');
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const started = performance.now();
  // The signal stops a scan that would run for ever, so that the next cases (and
  // fast-check's shrinking) do not share the machine with it.
  const listed = await within(
    artifactTree(manifest, [{ file, name: `${exportId}/tree.tar` }], AbortSignal.timeout(HANG_MS)),
    HANG_MS + 1000,
    'artifactTree',
  ).then(
    (entries) => ({ entries }),
    (error: unknown) => ({ error }),
  );
  const elapsed = performance.now() - started;
  if ('error' in listed) {
    expectCorruptArtifact(listed.error);
    expect(elapsed, 'refused within a second').toBeLessThan(REFUSAL_MS);
  }
  const ingested = await within(
    ingestArtifact({
      archive,
      outbox,
      manifest,
      stagingDir: join(scratch.path, 'staging'),
      tags: { component: 'fuzz', exportId },
      parent: lastSnapshot,
      // Cases are tiny: threads would cost more than they save.
      workers: 0,
      signal: AbortSignal.timeout(HANG_MS),
    }),
    HANG_MS + 1000,
    'ingestArtifact',
  ).then(
    (snapshot) => ({ snapshot }),
    (error: unknown) => ({ error }),
  );
  if ('error' in ingested) {
    expectCorruptArtifact(ingested.error);
    expect('error' in listed, `ingest refused what the reader accepted: ${String(ingested.error)}`).toBe(
      true,
    );
    await rm(join(scratch.path, 'outbox', exportId), { recursive: true, force: true });
    return;
  }
  expect('entries' in listed, 'ingested what the reader refused').toBe(true);
  committed++;
  lastSnapshot = ingested.snapshot.id;
  const target = join(scratch.path, 'restored', exportId);
  await restoreSnapshot(archive, ingested.snapshot.id, { target, workers: 0 });
  await expectTree(target, (listed as { entries: SourceEntry[] }).entries, startedNs);
  await rm(target, { recursive: true, force: true });
  await rm(join(scratch.path, 'outbox', exportId), { recursive: true, force: true });
}

function expectCorruptArtifact(error: unknown): void {
  expect((error as Error)?.name, `hang: ${String(error)}`).not.toBe('TimeoutError');
  expect(error, `not a corrupt-artifact refusal: ${String((error as Error)?.stack ?? error)}`).toMatchObject({
    name: 'PipelineError',
    code: 'corrupt-artifact',
  });
  expect((error as Error).message).not.toMatch(/\n/);
}

/**
 * The tree at `target` is `entries`: the same paths, types, bytes, targets, modes and
 * mtimes. Directories no member named (the root, implied parents) are dated when the
 * tars were read, once for the listing and again for the ingest: after `startedNs`.
 */
async function expectTree(target: string, entries: readonly SourceEntry[], startedNs: bigint): Promise<void> {
  const found = await walk(target, '');
  expect(found.sort()).toEqual(entries.map((entry) => entry.path).sort());
  for (const entry of entries) {
    const at = fsPath(target, entry.path);
    const stats = await lstat(at, { bigint: true });
    const what = JSON.stringify(entry.path);
    if (entry.stats.isDirectory()) expect(stats.isDirectory(), what).toBe(true);
    else if (entry.stats.isSymbolicLink()) {
      expect(stats.isSymbolicLink(), what).toBe(true);
      expect(decodeFileName(await readlink(at, { encoding: 'buffer' })), what).toBe(entry.target);
      continue;
    } else {
      expect(stats.isFile(), what).toBe(true);
      expect((await readFile(at)).equals(await sliceOf(entry)), what).toBe(true);
    }
    expect(stats.mode & 0o7777n, what).toBe(entry.stats.mode);
    if (entry.stats.isDirectory() && entry.stats.mtimeNs >= startedNs) {
      expect(stats.mtimeNs >= startedNs - 1_000_000n, `mtime of ${what}`).toBe(true);
    } else {
      const drift = stats.mtimeNs - entry.stats.mtimeNs;
      expect(drift < 1_000_000n && drift > -1_000_000n, `mtime of ${what}`).toBe(true);
    }
  }
}

async function walk(root: string, relative: string): Promise<string[]> {
  const paths = [relative];
  for (const raw of await readdir(fsPath(root, relative), { encoding: 'buffer', withFileTypes: true })) {
    const name = decodeFileName(raw.name as unknown as Buffer);
    const path = relative === '' ? name : `${relative}/${name}`;
    if (raw.isDirectory()) paths.push(...(await walk(root, path)));
    else paths.push(path);
  }
  return paths;
}

async function sliceOf(entry: SourceEntry): Promise<Buffer> {
  const data = Buffer.alloc(Number(entry.stats.size));
  const handle = await open(entry.absolute, 'r');
  try {
    await handle.read(data, 0, data.length, entry.base ?? 0);
  } finally {
    await handle.close();
  }
  return data;
}

describe('the pull of fuzzed tars', () => {
  it('ingests what restores, refuses the rest as corrupt at once', { timeout: 600_000 }, async () => {
    const runs = Number(process.env.FUZZ_RUNS ?? 250);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { arbitrary: mutatedTar(seeds), weight: 6 },
          { arbitrary: generatedTar, weight: 3 },
          { arbitrary: randomTar, weight: 1 },
        ),
        checkCase,
      ),
      {
        numRuns: runs,
        // The case's label says what it is; shrinking a hang would take minutes.
        endOnFailure: process.env.FUZZ_SHRINK === undefined,
        ...(process.env.FUZZ_SEED === undefined ? {} : { seed: Number(process.env.FUZZ_SEED) }),
        ...(process.env.FUZZ_PATH === undefined ? {} : { path: process.env.FUZZ_PATH }),
      },
    );
    // Every commit is one the cases counted, and the unmutated seeds ingest.
    expect((await listSnapshots(archive, { component: 'fuzz' })).length).toBe(committed);
    // The seeds themselves ingest and restore.
    const before = committed;
    for (const seed of seeds) await checkCase(seed);
    expect(committed - before).toBe(seeds.length);
  });
});
