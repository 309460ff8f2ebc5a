import { execFile } from 'node:child_process';
import { link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, archiveWalFile, fetchWalFile, initArchive } from '@pullback/archive';
import { type S3Server, scratchDir, startS3, waitFor } from '@pullback/harness';
import { startWalPrefetch, type WalPrefetch } from '@pullback/pipeline';
import { openBackend } from '@pullback/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spoolRestoreCommand, walSpoolOf } from '../src/index.js';

const SEGMENT = 1024 * 1024;
const STREAM = 'shop.7300000000000000001';
const at = '2026-12-06T03:00:00.000Z';
const segment = (n: number) => `00000001000000000000${n.toString(16).toUpperCase().padStart(4, '0')}`;
const bytesOf = (n: number) => Buffer.alloc(SEGMENT, n);

/** Runs the restore command as PostgreSQL does (`%f`, `%p`, `%%` replaced; sh -c in the data directory). */
function restore(
  command: string,
  dataDir: string,
  name: string,
  path = 'pg_wal/RECOVERYXLOG',
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number; ms: number }> {
  const line = command.replace(/%[fp%]/g, (match) => (match === '%f' ? name : match === '%p' ? path : '%'));
  const started = Date.now();
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', line], { cwd: dataDir, ...(env === undefined ? {} : { env }) }, (error) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, ms: Date.now() - started });
    });
  });
}

function spoolSuite(open: (root: string) => Promise<Archive>) {
  let scratch: { path: string; remove(): Promise<void> };
  let archive: Archive;
  let dataDir: string;
  let spool: string;
  let prefetch: WalPrefetch | undefined;
  let errors: string[];
  const fetched: string[] = [];

  beforeEach(async () => {
    scratch = await scratchDir('wal-spool');
    archive = await open(scratch.path);
    for (let n = 1; n <= 12; n++) {
      await archiveWalFile(archive, STREAM, segment(n), bytesOf(n), {
        segmentSize: SEGMENT,
        partial: false,
        firstReceivedAt: at,
        lastReceivedAt: at,
      });
    }
    await archiveWalFile(archive, STREAM, segment(13), Buffer.alloc(1000, 13), {
      segmentSize: SEGMENT,
      partial: true,
      firstReceivedAt: at,
      lastReceivedAt: at,
    });
    await archiveWalFile(
      archive,
      STREAM,
      '00000002.history',
      Buffer.from('1\t0/5000000\tno recovery target specified\n'),
      {
        segmentSize: SEGMENT,
        partial: false,
        firstReceivedAt: at,
        lastReceivedAt: at,
      },
    );
    dataDir = join(scratch.path, 'data');
    spool = join(dataDir, 'pg_wal', 'pullback-spool');
    await mkdir(spool, { recursive: true });
    errors = [];
    fetched.length = 0;
    prefetch = startWalPrefetch({
      dir: spool,
      ahead: 4,
      parallel: 2,
      ...agentOptions(),
    });
  });

  /** What every agent of these tests is given: the archive's files of STREAM (each name kept in `fetched`). */
  const agentOptions = (): Pick<Parameters<typeof startWalPrefetch>[0], 'fetch' | 'onError'> => ({
    fetch: async (name, options) => {
      fetched.push(name);
      const file = await fetchWalFile(archive, STREAM, name, options);
      return (
        file && {
          content: file.content,
          segmentSize: file.header.segmentSize,
          partial: file.header.partial,
        }
      );
    },
    onError: (error) => errors.push(error.message),
  });

  afterEach(async () => {
    await prefetch?.stop();
    await scratch?.remove();
  });

  const command = () => spoolRestoreCommand(spool);
  const recovered = () => readFile(join(dataDir, 'pg_wal', 'RECOVERYXLOG'));
  /** A segment given to recovery: moved into pg_wal under its name (exit 1, read from there). */
  const placed = (name: string) => readFile(join(dataDir, 'pg_wal', name));
  const spooled = async () => (await readdir(spool)).filter((name) => !name.startsWith('.')).sort();
  /** Segments fetched ahead: placed in pg_wal under their names, each linked as `placed.<name>` in the spool. */
  const placedAhead = async () =>
    (await spooled())
      .filter((name) => name.startsWith('placed.'))
      .map((name) => name.slice('placed.'.length));

  it('answers an ask with the segment, keeps the next ones fetched ahead, and slides on as they are taken', async () => {
    // A segment left from before: older than what is asked, so it goes.
    await writeFile(join(spool, segment(1)), bytesOf(1));
    expect(await restore(command(), dataDir, segment(3))).toMatchObject({ code: 1 });
    expect((await placed(segment(3))).equals(bytesOf(3))).toBe(true);
    await expect(recovered()).rejects.toThrow(/ENOENT/);
    const ahead = [4, 5, 6, 7].map(segment);
    await waitFor('four segments fetched ahead', async () =>
      (await spooled()).join() === ahead.map((name) => `placed.${name}`).join() ? true : undefined,
    );
    for (const n of [4, 5, 6, 7]) expect((await placed(segment(n))).equals(bytesOf(n))).toBe(true);
    expect(fetched.filter((name) => name === segment(8))).toEqual([]);

    // Found placed with no ask (the command says where replay is); the window moves on.
    const hit = await restore(command(), dataDir, segment(4));
    expect(hit.code).toBe(1);
    expect((await placed(segment(4))).equals(bytesOf(4))).toBe(true);
    expect((await readFile(join(spool, 'at'), 'utf8')).trim()).toBe(segment(4));
    await waitFor('segment 8 fetched ahead', async () =>
      (await placedAhead()).includes(segment(8)) ? true : undefined,
    );
    await waitFor('links behind the segment replayed removed', async () =>
      (await placedAhead()).join() === [4, 5, 6, 7, 8].map(segment).join() ? true : undefined,
    );
    // Each segment came from the archive once.
    expect(new Set(fetched).size).toBe(fetched.length);
    expect(errors).toEqual([]);
  });

  it("fetches the window from where a restored snapshot's recovery starts before any ask, when told the server starts", async () => {
    // As a restore leaves it: backup_label naming the first segment, whose copy is in pg_wal.
    await writeFile(
      join(dataDir, 'backup_label'),
      `START WAL LOCATION: 0/5000028 (file ${segment(5)})\nCHECKPOINT LOCATION: 0/5000060\n`,
    );
    await writeFile(join(dataDir, 'pg_wal', segment(5)), Buffer.alloc(SEGMENT));
    const { recoveryStart } = await walSpoolOf(dataDir);
    expect(recoveryStart).toEqual({ segment: segment(5), segmentSize: SEGMENT });
    expect(await placedAhead()).toEqual([]);

    prefetch!.expect(recoveryStart!.segment, recoveryStart!.segmentSize);
    const window = [5, 6, 7, 8].map(segment);
    await waitFor('the window from the first segment placed', async () =>
      (await placedAhead()).join() === window.join() ? true : undefined,
    );
    // The restored copy of the first segment was written over where it lies.
    expect((await placed(segment(5))).equals(bytesOf(5))).toBe(true);
    // Recovery's first ask finds it placed: no wait for the agent.
    expect(await restore(command(), dataDir, segment(5))).toMatchObject({ code: 1 });
    expect((await readFile(join(spool, 'at'), 'utf8')).trim()).toBe(segment(5));
    expect(fetched.filter((name) => name < segment(5))).toEqual([]);
    expect(errors).toEqual([]);

    // Once the server has taken the label (recovery began), the spool names no start.
    await rename(join(dataDir, 'backup_label'), join(dataDir, 'backup_label.old'));
    expect((await walSpoolOf(dataDir)).recoveryStart).toBeUndefined();
  });

  it('copies history files (asked again and again), gives a partial padded to its segment, and says absent at once', async () => {
    expect(await restore(command(), dataDir, '00000002.history')).toMatchObject({ code: 0 });
    expect((await recovered()).toString()).toBe('1\t0/5000000\tno recovery target specified\n');
    expect(await spooled()).toContain('00000002.history');
    expect(await restore(command(), dataDir, '00000002.history')).toMatchObject({ code: 0 });

    expect(await restore(command(), dataDir, segment(13))).toMatchObject({ code: 1 });
    const partial = await placed(segment(13));
    expect(partial.length).toBe(SEGMENT);
    expect(partial.subarray(0, 1000).equals(Buffer.alloc(1000, 13))).toBe(true);
    expect(partial.subarray(1000).equals(Buffer.alloc(SEGMENT - 1000))).toBe(true);

    const absent = await restore(command(), dataDir, segment(14));
    expect(absent.code).toBe(1);
    expect(absent.ms).toBeLessThan(1500);
    expect(await restore(command(), dataDir, '00000003.history')).toMatchObject({ code: 1 });
    expect((await spooled()).filter((name) => name.startsWith('absent.') || name.startsWith('want'))).toEqual(
      [],
    );
  });

  it("keeps the WAL of a copy in pg_wal that went further than the archive's partial (streamed before the active died)", async () => {
    // The fallback streamed 3000 bytes of segment 13; the archive received 1000 of them.
    const streamed = Buffer.alloc(SEGMENT);
    streamed.fill(13, 0, 3000);
    await writeFile(join(dataDir, 'pg_wal', segment(13)), streamed);
    expect(await restore(command(), dataDir, segment(13))).toMatchObject({ code: 1 });
    expect((await placed(segment(13))).equals(streamed)).toBe(true);

    // A copy that went less far than the archive's partial gets the archive's bytes.
    const short = Buffer.alloc(SEGMENT);
    short.fill(13, 0, 400);
    await writeFile(join(dataDir, 'pg_wal', segment(13)), short);
    expect(await restore(command(), dataDir, segment(13))).toMatchObject({ code: 1 });
    const given = await placed(segment(13));
    expect(given.subarray(0, 1000).equals(Buffer.alloc(1000, 13))).toBe(true);
    expect(given.subarray(1000).equals(Buffer.alloc(SEGMENT - 1000))).toBe(true);
    expect(errors).toEqual([]);
  });

  it('gives the file at %p to a caller other than recovery (pg_rewind), exit 0', async () => {
    const elsewhere = join(scratch.path, 'rewind-wal');
    await mkdir(elsewhere);
    expect(await restore(command(), dataDir, segment(6), join(elsewhere, segment(6)))).toMatchObject({
      code: 0,
    });
    expect((await readFile(join(elsewhere, segment(6)))).equals(bytesOf(6))).toBe(true);
    await expect(placed(segment(6))).rejects.toThrow(/ENOENT/);
  });

  it('tells recovery to read a placed segment with no process but its shell (no PATH), and sets it in pg_wal', async () => {
    expect(await restore(command(), dataDir, segment(3))).toMatchObject({ code: 1 });
    await waitFor('segment 4 placed', async () =>
      (await placedAhead()).includes(segment(4)) ? true : undefined,
    );
    // sh alone: mv, cp, rm or sleep, looked up in PATH, would not be found.
    const hit = await restore(command(), dataDir, segment(4), 'pg_wal/RECOVERYXLOG', {
      PATH: '/nonexistent',
    });
    expect(hit.code).toBe(1);
    expect((await placed(segment(4))).equals(bytesOf(4))).toBe(true);
    expect((await readFile(join(spool, 'at'), 'utf8')).trim()).toBe(segment(4));
    await expect(recovered()).rejects.toThrow(/ENOENT/);
    expect(fetched.filter((name) => name === segment(4))).toEqual([segment(4)]);
  });

  it('does not trust a placed name once another file took its place in pg_wal (recycled there): fetches it again', async () => {
    expect(await restore(command(), dataDir, segment(3))).toMatchObject({ code: 1 });
    await waitFor('segment 5 placed', async () =>
      (await placedAhead()).includes(segment(5)) ? true : undefined,
    );
    // What the server does when it recycles an old segment under a future name.
    const recycled = join(dataDir, 'pg_wal', 'xlogtemp.1');
    await writeFile(recycled, bytesOf(1));
    await rename(recycled, join(dataDir, 'pg_wal', segment(5)));
    expect(await restore(command(), dataDir, segment(4))).toMatchObject({ code: 1 });
    expect(await restore(command(), dataDir, segment(5))).toMatchObject({ code: 1 });
    expect((await placed(segment(5))).equals(bytesOf(5))).toBe(true);
    expect(fetched.filter((name) => name === segment(5))).toEqual([segment(5), segment(5)]);
    expect(errors).toEqual([]);
  });

  it('writes a later segment into the file of one the server removed, never into one it still names', async () => {
    expect(await restore(command(), dataDir, segment(3))).toMatchObject({ code: 1 });
    await waitFor('segments 4 to 7 placed', async () =>
      (await placedAhead()).join() === [4, 5, 6, 7].map(segment).join() ? true : undefined,
    );
    const inode = async (n: number) => (await stat(join(dataDir, 'pg_wal', segment(n)))).ino;
    const [four, five] = [await inode(4), await inode(5)];
    // Replay moves on to 6: the links of 4 and 5 are retired, not removed.
    for (const n of [4, 5, 6])
      expect(await restore(command(), dataDir, segment(n))).toMatchObject({ code: 1 });
    await waitFor('segments 8 to 10 placed', async () =>
      (await placedAhead()).join() === [6, 7, 8, 9, 10].map(segment).join() ? true : undefined,
    );
    expect((await spooled()).filter((name) => name.startsWith('retired.'))).toEqual(
      [4, 5].map((n) => `retired.${segment(n)}`),
    );
    // Segment 5 is still the server's: 8 to 10 are new files, and 5 keeps its bytes.
    expect([await inode(8), await inode(9), await inode(10)]).not.toContain(five);
    expect((await placed(segment(5))).equals(bytesOf(5))).toBe(true);
    // A restartpoint removes segment 4: the next one placed is written into its file.
    await rm(join(dataDir, 'pg_wal', segment(4)));
    expect(await restore(command(), dataDir, segment(7))).toMatchObject({ code: 1 });
    await waitFor('segment 11 placed', async () =>
      (await placedAhead()).includes(segment(11)) ? true : undefined,
    );
    expect(await inode(11)).toBe(four);
    expect((await placed(segment(11))).equals(bytesOf(11))).toBe(true);
    expect((await placed(segment(5))).equals(bytesOf(5))).toBe(true);
    expect((await spooled()).filter((name) => name.startsWith('retired.'))).toEqual(
      [5, 6].map((n) => `retired.${segment(n)}`),
    );
    expect(errors).toEqual([]);
  });

  it('writes a segment into the file the server recycled under its name (one we placed before too), never into one of another size', async () => {
    await prefetch?.stop();
    const wal = join(dataDir, 'pg_wal');
    // Files the server recycled under the names of segments to come: 5 its own, 6 one we
    // placed as segment 2 (still linked as retired), 7 of another size.
    for (const n of [5, 6]) await writeFile(join(wal, segment(n)), bytesOf(1));
    await link(join(wal, segment(6)), join(spool, `retired.${segment(2)}`));
    await writeFile(join(wal, segment(7)), Buffer.alloc(1000, 1));
    const inode = async (n: number) => (await stat(join(wal, segment(n)))).ino;
    const [five, six, seven] = [await inode(5), await inode(6), await inode(7)];
    prefetch = startWalPrefetch({ dir: spool, ahead: 4, parallel: 2, ...agentOptions() });
    expect(await restore(command(), dataDir, segment(3))).toMatchObject({ code: 1 });
    await waitFor('segments 4 to 7 placed', async () =>
      (await placedAhead()).join() === [4, 5, 6, 7].map(segment).join() ? true : undefined,
    );
    expect([await inode(5), await inode(6)]).toEqual([five, six]);
    expect(await inode(7)).not.toBe(seven);
    for (const n of [4, 5, 6, 7]) expect((await placed(segment(n))).equals(bytesOf(n))).toBe(true);
    // Our link to 6 went, so that no later segment is written into it as well.
    expect((await spooled()).filter((name) => name.startsWith('retired.'))).toEqual([]);
    for (const n of [5, 6]) expect(await restore(command(), dataDir, segment(n))).toMatchObject({ code: 1 });
    expect(errors).toEqual([]);
  });

  it('writes the first segments it fetches ahead into the spares it made before, then into new files', async () => {
    await prefetch?.stop();
    prefetch = startWalPrefetch({
      dir: spool,
      ahead: 4,
      parallel: 2,
      spares: 3,
      spareSize: SEGMENT,
      ...agentOptions(),
    });
    await prefetch.ready;
    const spares = (await spooled()).filter((name) => name.startsWith('spare.'));
    expect(spares).toHaveLength(3);
    const spareInodes = await Promise.all(spares.map(async (name) => (await stat(join(spool, name))).ino));
    expect(await restore(command(), dataDir, segment(3))).toMatchObject({ code: 1 });
    await waitFor('segments 4 to 7 placed', async () =>
      (await placedAhead()).join() === [4, 5, 6, 7].map(segment).join() ? true : undefined,
    );
    const inodes = await Promise.all(
      [4, 5, 6, 7].map(async (n) => (await stat(join(dataDir, 'pg_wal', segment(n)))).ino),
    );
    // Three went into the spares, one into a new file; each holds its segment's bytes.
    expect(inodes.filter((inode) => spareInodes.includes(inode))).toHaveLength(3);
    for (const n of [4, 5, 6, 7]) expect((await placed(segment(n))).equals(bytesOf(n))).toBe(true);
    expect((await spooled()).filter((name) => name.startsWith('spare.'))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('gives up early when no agent takes the ask', async () => {
    await prefetch?.stop();
    prefetch = undefined;
    const missed = await restore(command(), dataDir, segment(5));
    expect(missed.code).toBe(1);
    expect(missed.ms).toBeGreaterThanOrEqual(1900);
    expect(missed.ms).toBeLessThan(15_000);
  });
}

describe('the fallback WAL spool on the fs driver', () => {
  spoolSuite(
    async (root) =>
      (await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'key') })).archive,
  );
});

describe('the fallback WAL spool on the S3 driver', () => {
  let s3: S3Server;
  let bucket = 0;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['archive'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });
  spoolSuite(
    async (root) =>
      (
        await initArchive({
          archive: openBackend(`s3://archive/spool-${bucket++}`, {
            s3: {
              endpoint: s3.endpoint,
              region: s3.region,
              credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
            },
          }),
          keyFile: join(root, 'key'),
        })
      ).archive,
  );
});
