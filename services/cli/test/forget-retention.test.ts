import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupTree, openArchive, RETENTION_OPTIONS } from '@pullback/archive';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

// Every retention rule the archive applies is reachable from the config and the command line.
describe('forget: every rule of the retention policy, from flags and from the config', () => {
  let work: string;

  /** A copy of the archive of three snapshots and the config that names it, for one test to change. */
  async function copyOfArchive(name: string): Promise<{ args: string[]; config: string }> {
    const dir = join(work, name);
    await cp(join(work, 'archive'), join(dir, 'archive'), { recursive: true });
    const config = join(dir, 'pullback.yaml');
    await writeFile(config, configText(join(dir, 'archive')));
    return { args: ['--archive', join(dir, 'archive'), '--key-file', join(work, 'key')], config };
  }

  function configText(archive: string): string {
    return [
      'redis: redis://127.0.0.1:6379',
      'archive:',
      `  url: ${archive}`,
      'components:',
      '  docs:',
      '    recipe: files',
      `    path: ${join(work, 'source')}`,
      `    outbox: ${join(work, 'outbox')}`,
      '    retention: { keepYearly: 1 }',
      '',
    ].join('\n');
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-retention-'));
    const key = ['--key-file', join(work, 'key')];
    expect((await runCli(['archive', 'init', '--archive', join(work, 'archive'), ...key])).code).toBe(0);
    // Three snapshots of component docs, all of this year: keepYearly 1 keeps one.
    const archive = await openArchive({ archive: join(work, 'archive'), keyFile: join(work, 'key') });
    await mkdir(join(work, 'source'));
    for (let round = 0; round < 3; round++) {
      await writeFile(join(work, 'source', 'note.txt'), `round ${round}\n`);
      await backupTree(archive, join(work, 'source'), { tags: { component: 'docs' } });
    }
  }, 120_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function snapshotCount(args: string[]): Promise<number> {
    return (JSON.parse((await runCli(['snapshots', '--json', ...args])).stdout) as unknown[]).length;
  }

  it('--keep-yearly 1 keeps the newest snapshot of the year', async () => {
    const { args } = await copyOfArchive('flags');
    const result = await runCli(['forget', '--keep-yearly', '1', ...args]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^kept 1, forgot 2: /);
    expect(await snapshotCount(args)).toBe(1);
  });

  it('retention: { keepYearly: 1 } in the config is applied', async () => {
    const { args, config } = await copyOfArchive('config');
    const result = await runCli(['forget', '--config', config, '--key-file', join(work, 'key')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^docs: kept 1, forgot 2: /);
    expect(await snapshotCount(args)).toBe(1);
  });

  it('has a --keep-* option for each field of the policy', async () => {
    const help = (await runCli(['forget', '--help'])).stdout;
    for (const option of Object.values(RETENTION_OPTIONS)) expect(help).toContain(`--${option} <`);
  });
});
