import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * `latest` in an archive of several components names none of them: restore refuses it
 * and lists the components (the help and the docs say --component is then needed),
 * rather than restore whichever component was backed up last.
 */
describe.each(['fs', 's3'] as const)(
  'restore latest in an archive of two components on the %s driver',
  (driver) => {
    let work: string;
    let s3: S3Server | undefined;
    let archiveArgs: string[];
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'pullback-cli-latest-'));
      let url: string;
      if (driver === 's3') {
        s3 = await startS3({ buckets: ['cli-latest'] });
        env = s3.env;
        url = 's3://cli-latest/history';
      } else {
        env = {};
        url = join(work, 'archive');
      }
      archiveArgs = ['--archive', url, '--key-file', join(work, 'key')];
      expect((await runCli(['archive', 'init', ...archiveArgs], { env })).code).toBe(0);
      await mkdir(join(work, 'docs'));
      await writeFile(join(work, 'docs', 'readme.txt'), 'docs\n');
      const config = join(work, 'pullback.yaml');
      await writeFile(
        config,
        [
          'redis: redis://127.0.0.1:6379',
          `archive: { url: ${url} }`,
          'components:',
          '  docs:',
          '    recipe: files',
          `    path: ${join(work, 'docs')}`,
          `    outbox: ${join(work, 'outbox')}`,
          '',
        ].join('\n'),
      );
      const docs = await runCli(['backup', 'docs', '--config', config, '--key-file', join(work, 'key')], {
        env,
      });
      expect(docs.stderr).toBe('');
      await mkdir(join(work, 'uploads'));
      await writeFile(join(work, 'uploads', 'a.txt'), 'a\n');
      expect((await runCli(['backup', 'files', join(work, 'uploads'), ...archiveArgs], { env })).code).toBe(
        0,
      );
    }, 60_000);

    afterAll(async () => {
      await s3?.stop();
      await rm(work, { recursive: true, force: true });
    });

    it('refuses latest without --component, naming the newest of each history', async () => {
      const result = await runCli(['restore', 'latest', '--target', join(work, 'out'), ...archiveArgs], {
        env,
      });
      expect(result.code).toBe(1);
      expect(result.errorLines).toHaveLength(1);
      expect(result.errorLines[0]).toMatch(
        /^pullback: latest names no snapshot in archive .*: it holds 2 histories; HINT: name one with --component, or give the id of one of the newest: [0-9a-f]{12} \(docs\), [0-9a-f]{12} \(\/.*uploads\)$/,
      );
    });

    it('takes latest with --component', async () => {
      const target = join(work, 'docs-out');
      const result = await runCli(
        ['restore', 'latest', '--component', 'docs', '--target', target, ...archiveArgs],
        {
          env,
        },
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    });

    it('refuses latest --component files over two trees backed up with backup files, naming both', async () => {
      await mkdir(join(work, 'notes'));
      await writeFile(join(work, 'notes', 'b.txt'), 'b\n');
      expect((await runCli(['backup', 'files', join(work, 'notes'), ...archiveArgs], { env })).code).toBe(0);
      const result = await runCli(
        ['restore', 'latest', '--component', 'files', '--target', join(work, 'trees-out'), ...archiveArgs],
        { env },
      );
      expect(result.code).toBe(1);
      expect(result.errorLines).toHaveLength(1);
      expect(result.errorLines[0]).toMatch(
        /: it holds 2 histories; HINT: .*[0-9a-f]{12} \(\/.*uploads\), [0-9a-f]{12} \(\/.*notes\)$/,
      );
    });
  },
);
