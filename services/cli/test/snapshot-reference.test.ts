import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function copyObject(backend: Backend, from: string, to: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of await backend.load(from)) chunks.push(chunk as Buffer);
  await backend.save(to, Buffer.concat(chunks));
}

/** `restore <prefix> --component C` resolves its reference as every other command does. */
describe.each(['fs', 's3'] as const)('snapshot references on the %s driver', (driver) => {
  let work: string;
  let s3: S3Server | undefined;
  let env: NodeJS.ProcessEnv;
  let archiveArgs: string[];
  let backend: Backend;
  let first: { id: string; time: string };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-reference-'));
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['cli-reference'] });
      env = s3.env;
      archiveArgs = ['--archive', 's3://cli-reference/history', '--key-file', join(work, 'key')];
      backend = openBackend('s3://cli-reference/history', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    } else {
      env = {};
      archiveArgs = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
      backend = openBackend(join(work, 'archive'));
    }
    await mkdir(join(work, 'source'));
    await writeFile(join(work, 'source', 'a.txt'), 'a\n');
    expect((await runCli(['archive', 'init', ...archiveArgs], { env })).code).toBe(0);
    const backup = await runCli(['backup', 'files', join(work, 'source'), ...archiveArgs, '--json'], { env });
    expect(backup.stderr).toBe('');
    first = JSON.parse(backup.stdout) as { id: string; time: string };
    // Ids are hashes: two snapshots sharing a 4-character prefix are made by copying a manifest.
    await copyObject(backend, `snapshots/${first.id}`, `snapshots/${'abcd1'.padEnd(64, '0')}`);
    await copyObject(backend, `snapshots/${first.id}`, `snapshots/${'abcd2'.padEnd(64, '0')}`);
  }, 120_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('refuses a prefix two snapshots of the component share, naming both, and restores nothing', async () => {
    const target = join(work, 'ambiguous');
    const result = await runCli(
      ['restore', 'abcd', '--component', 'files', ...archiveArgs, '--target', target],
      { env },
    );
    expect(result.errorLines).toEqual([
      expect.stringMatching(
        /^pullback: snapshot id prefix abcd matches 2 snapshots of component files in archive .+; HINT: give more characters of one of: abcd10000000 \(.+\), abcd20000000 \(.+\)$/,
      ),
    ]);
    expect(result.code).toBe(1);
    expect(await exists(target)).toBe(false);
  });

  it('refuses a one-character prefix, even one that names a single snapshot', async () => {
    const target = join(work, 'short');
    const ref = first.id.slice(0, 1);
    const result = await runCli(
      ['restore', ref, '--component', 'files', ...archiveArgs, '--target', target],
      {
        env,
      },
    );
    expect(result.errorLines).toEqual([
      `pullback: snapshot id prefix ${ref} is too short; HINT: give at least 4 characters of the id, as \`pullback snapshots\` lists it`,
    ]);
    expect(result.code).toBe(1);
    expect(await exists(target)).toBe(false);
  });
});
