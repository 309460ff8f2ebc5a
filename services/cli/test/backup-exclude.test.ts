import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * `backup files --exclude` as a newcomer from restic or .gitignore writes it: before
 * PATH or after it, and `*.tmp` meaning every .tmp file, not only those at the top.
 */
describe.each(['fs', 's3'] as const)('backup files --exclude on the %s driver', (driver) => {
  let work: string;
  let s3: S3Server | undefined;
  let archiveArgs: string[];
  let env: NodeJS.ProcessEnv;
  const source = () => join(work, 'source');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-exclude-'));
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['cli-exclude'] });
      env = s3.env;
      archiveArgs = ['--archive', 's3://cli-exclude/history', '--key-file', join(work, 'key')];
    } else {
      env = {};
      archiveArgs = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
    }
    await mkdir(join(source(), 'cache', 'deep'), { recursive: true });
    await writeFile(join(source(), 'keep.txt'), 'kept\n');
    await writeFile(join(source(), 'top.tmp'), 'scratch\n');
    await writeFile(join(source(), 'cache', 'deep', 'nested.tmp'), 'scratch\n');
    await writeFile(join(source(), 'cache', 'deep', 'kept.txt'), 'kept\n');
    expect((await runCli(['archive', 'init', ...archiveArgs], { env })).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('takes --exclude before PATH, and a pattern without a slash matches at any depth', async () => {
    const result = await runCli(
      ['backup', 'files', '--exclude', '*.tmp', source(), ...archiveArgs, '--json'],
      {
        env,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { id, stats } = JSON.parse(result.stdout) as { id: string; stats: { files: number } };
    expect(stats.files).toBe(2);

    const target = join(work, 'restored');
    expect((await runCli(['restore', id, '--target', target, ...archiveArgs], { env })).code).toBe(0);
    const restored = await runCli(['backup', 'files', target, ...archiveArgs, '--json'], { env });
    expect((JSON.parse(restored.stdout) as { stats: { files: number } }).stats.files).toBe(2);
  }, 120_000);
});
