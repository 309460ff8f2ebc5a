import { writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, isArchiveError, listSnapshots, type SourceEntry } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

// Real archive work (worker threads, S3) on a shared 2-core machine.
const TIMEOUT = 120_000;

/**
 * A source that is not a directory walk (the members of a tar are one) can hand a
 * backup entries no restore would accept: each must be refused before the snapshot
 * commits, on every driver.
 */
describe.each(['fs', 's3'] as const)('a backup of a source restore would refuse (%s)', (driver) => {
  let ws: Workspace;
  let s3: S3Server | undefined;

  async function s3Backend(): Promise<Backend> {
    s3 = await startS3({ buckets: ['archive'] });
    return openBackend('s3://archive/pullback', {
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    });
  }

  beforeAll(async () => {
    ws = await newWorkspace('unrestorable', driver === 's3' ? await s3Backend() : undefined);
    await writeFile(ws.path('content'), 'some bytes');
  }, TIMEOUT);

  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  const stats = (type: 'dir' | 'file' | 'symlink') => ({
    isDirectory: () => type === 'dir',
    isFile: () => type === 'file',
    isSymbolicLink: () => type === 'symlink',
    mode: 0o644n,
    uid: 0n,
    gid: 0n,
    mtimeNs: 1_700_000_000_000_000_000n,
    ctimeNs: 1_700_000_000_000_000_000n,
    size: type === 'file' ? 10n : 0n,
  });
  // Built when the test runs: the workspace exists only then.
  const dir = (path: string) => (): SourceEntry => ({ path, absolute: ws.path(), stats: stats('dir') });
  const file = (path: string) => (): SourceEntry => ({
    path,
    absolute: ws.path('content'),
    stats: stats('file'),
  });
  const link = (path: string, target: string) => (): SourceEntry => ({
    path,
    absolute: '',
    stats: stats('symlink'),
    target,
  });
  const long = 'n'.repeat(256);

  const deep = Array.from({ length: 17 }, (_, i) =>
    Array(i + 1)
      .fill('d'.repeat(240))
      .join('/'),
  );
  it.each([
    [
      'a file that is the parent of the next entry',
      [dir(''), file('f'), file('f/x')],
      'f/x',
      'parent directory missing',
    ],
    [
      'a name longer than 255 bytes',
      [dir(''), dir('d'), file(`d/${long}`)],
      `d/${long}`,
      'name longer than 255 bytes',
    ],
    [
      'a name of 128 two-byte characters (256 bytes)',
      [dir(''), file('é'.repeat(127)), file('é'.repeat(128))],
      'é'.repeat(128),
      'name longer than 255 bytes',
    ],
    ['a path longer than 4094 bytes', [dir(''), ...deep.map(dir)], deep[16]!, 'path longer than 4094 bytes'],
    ['a symlink to nothing', [dir(''), link('l', '')], 'l', 'symlink to nothing'],
    ['entries out of order', [dir(''), file('b'), file('a')], 'a', 'tree out of order'],
  ] as const)('refuses %s before committing', { timeout: TIMEOUT }, async (_what, entries, path, why) => {
    const error = await backupTree(ws.archive, ws.path('source'), {
      source: async function* () {
        for (const entry of entries) yield entry();
      },
    }).then(
      () => new Error('committed'),
      (e: unknown) => e,
    );
    expect(isArchiveError(error, 'unsafe-path')).toBe(true);
    expect((error as Error).message).toBe(
      `cannot back up ${JSON.stringify(path)} of ${ws.path('source')}: ${why}`,
    );
    expect(await listSnapshots(ws.archive)).toEqual([]);
  });

  it('still backs up a name of exactly 255 bytes', { timeout: TIMEOUT }, async () => {
    const snapshot = await backupTree(ws.archive, ws.path('source'), {
      source: async function* () {
        for (const entry of [dir(''), file('n'.repeat(255))]) yield entry();
      },
    });
    expect(snapshot.stats.files).toBe(1);
  });
});
