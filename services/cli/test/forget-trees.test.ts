import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * `backup files PATH` tags every tree it backs up with the component `files`: retention
 * must still count each tree as its own history, or keeping the last snapshot of
 * one tree forgets every other tree.
 */
describe.each(['fs', 's3'] as const)('forget after backup files of two trees on the %s driver', (driver) => {
  let work: string;
  let s3: S3Server | undefined;
  let archiveArgs: string[];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-forget-trees-'));
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['cli-forget-trees'] });
      env = s3.env;
      archiveArgs = ['--archive', 's3://cli-forget-trees/history', '--key-file', join(work, 'key')];
    } else {
      env = {};
      archiveArgs = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
    }
    expect((await runCli(['archive', 'init', ...archiveArgs], { env })).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  async function backup(tree: string, round: number): Promise<string> {
    await mkdir(join(work, tree), { recursive: true });
    await writeFile(join(work, tree, 'note.txt'), `${tree} round ${round}\n`);
    const result = await runCli(['backup', 'files', join(work, tree), ...archiveArgs, '--json'], { env });
    expect(result.stderr).toBe('');
    return (JSON.parse(result.stdout) as { id: string }).id;
  }

  it('--keep-last 1 keeps the last snapshot of each tree', async () => {
    await backup('uploads', 1);
    const uploads = await backup('uploads', 2);
    const etc = await backup('etc', 1);

    const result = await runCli(['forget', '--keep-last', '1', ...archiveArgs], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listed = await runCli(['snapshots', '--json', ...archiveArgs], { env });
    const kept = (JSON.parse(listed.stdout) as Array<{ id: string }>).map((snapshot) => snapshot.id);
    expect(kept.sort()).toEqual([uploads, etc].sort());
  }, 120_000);

  it('--keep-last 0 is refused with a hint that fits it', async () => {
    const result = await runCli(['forget', '--keep-last', '0', ...archiveArgs], { env });
    expect(result.code).toBe(1);
    expect(result.errorLines).toEqual([
      'pullback: the retention policy keeps everything: nothing to forget; HINT: give at least one --keep-* option above 0 (a --keep-within longer than 0)',
    ]);
  });

  it('prune --dry-run says what it would do, in the conditional', async () => {
    const result = await runCli(['forget', '--keep-last', '1', '--prune', '--dry-run', ...archiveArgs], {
      env,
    });
    expect(result.code).toBe(0);
    const pruneLine = result.stdout.split('\n').find((line) => line.startsWith('prune:'));
    expect(pruneLine).toMatch(
      /^prune: would remove \d+ packs? and repack \d+ \(\d+(\.\d)? [KMG]?i?B to delete\)$/,
    );
  });
});
