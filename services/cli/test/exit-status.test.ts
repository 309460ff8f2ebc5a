import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, createKeyFile, initArchive, openArchive } from '@pullback/archive';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeRegExp, runCli } from './run-cli.js';

async function loadObject(backend: Backend, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await backend.load(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Each failure a user can act on: its own exit status (the README's table) and a hint. */
describe.each(['fs', 's3'] as const)('exit statuses and hints on the %s driver', (driver) => {
  let work: string;
  let s3: S3Server | undefined;
  let env: NodeJS.ProcessEnv;
  let keyFile: string;
  /** A fresh location for each test, as the CLI names it, and its backend. */
  let location: (name: string) => { url: string; backend: Backend };
  /** How messages name an archive: an S3 one with its endpoint. */
  const named = (url: string) => (s3 === undefined ? url : `${url} at ${s3.endpoint}`);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-exit-'));
    keyFile = join(work, 'archive.key');
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['cli-exit'] });
      const server = s3;
      env = server.env;
      location = (name) => ({
        url: `s3://cli-exit/${name}`,
        backend: openBackend(`s3://cli-exit/${name}`, {
          s3: {
            endpoint: server.endpoint,
            region: server.region,
            credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
          },
        }),
      });
    } else {
      env = {};
      location = (name) => ({ url: join(work, name), backend: openBackend(join(work, name)) });
    }
  }, 60_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  async function newArchive(name: string): Promise<{ url: string; backend: Backend }> {
    const where = location(name);
    await initArchive({ archive: where.backend, keyFile });
    return where;
  }

  it('10 when there is no archive at the location', async () => {
    const { url } = location('nothing');
    const result = await runCli(['snapshots', '--archive', url, '--key-file', keyFile], { env });
    expect(result.errorLines).toEqual([
      `pullback: not a pullback archive: ${named(url)}; HINT: create one with \`pullback archive init\`, or check the archive URL`,
    ]);
    expect(result.code).toBe(10);
  });

  it('12 when no key is given, the key file is not one, or the key is wrong', async () => {
    const { url } = await newArchive('keys');
    const none = await runCli(['snapshots', '--archive', url], { env });
    expect(none.errorLines).toEqual([
      'pullback: no archive key given; HINT: pass --key-file, or set PULLBACK_KEY_FILE, PULLBACK_PASSWORD or archive.keyFile in the config (taken in that order)',
    ]);
    expect(none.code).toBe(12);

    const junk = join(work, 'junk.key');
    await writeFile(junk, 'not a key\n');
    const notKey = await runCli(['snapshots', '--archive', url, '--key-file', junk], { env });
    expect(notKey.errorLines).toEqual([
      `pullback: not a pullback key file: ${junk}; HINT: a key file holds one line starting with "pullback-key-v1 "`,
    ]);
    expect(notKey.code).toBe(12);

    const other = join(work, `other-${driver}.key`);
    await createKeyFile(other);
    const wrong = await runCli(['snapshots', '--archive', url, '--key-file', other], { env });
    expect(wrong.errorLines).toEqual([
      `pullback: wrong key file for archive ${named(url)}; HINT: check --key-file, PULLBACK_KEY_FILE, PULLBACK_PASSWORD and archive.keyFile in the config (taken in that order)`,
    ]);
    expect(wrong.code).toBe(12);
  });

  it('11 when another process holds the archive locked', async () => {
    const { url, backend } = await newArchive('locked');
    const lock = await acquireLock(backend, { kind: 'exclusive', purpose: 'a test prune' });
    try {
      // A backup takes the archive's shared lock before it reads or writes anything.
      const source = join(work, 'locked-source');
      await mkdir(source, { recursive: true });
      const result = await runCli(['backup', 'files', source, '--archive', url, '--key-file', keyFile], {
        env,
      });
      expect(result.errorLines).toEqual([
        expect.stringMatching(
          /^pullback: archive is locked exclusively by a test prune on host .+; HINT: wait for it to finish; if that process is gone, its lock expires at /,
        ),
      ]);
      expect(result.code).toBe(11);
    } finally {
      await lock.release();
    }
  }, 60_000);

  it('1 with a hint when the config object fails authentication: a wrong key or a damaged archive', async () => {
    const { url, backend } = await newArchive('damaged-config');
    const config = await loadObject(backend, 'config');
    config[config.length >> 1]! ^= 1;
    await backend.save('config', config);
    const result = await runCli(['snapshots', '--archive', url, '--key-file', keyFile], { env });
    expect(result.errorLines).toEqual([
      `pullback: config of archive ${named(url)} fails authentication; HINT: a wrong key (another archive's) or a damaged config object: check the key, then restore \`config\` from a copy of the archive`,
    ]);
    expect(result.code).toBe(1);
  });

  it('1 with a hint to upgrade when a newer pullback wrote the archive', async () => {
    const { url, backend } = await newArchive('newer');
    const archive = await openArchive({ archive: backend, keyFile });
    // The config as a later format would write it (archive.ts seals it under this label).
    await backend.save(
      'config',
      archive.sealJson({ ...archive.config, version: 2 }, Buffer.from('pullback config')),
    );
    const result = await runCli(['snapshots', '--archive', url, '--key-file', keyFile], { env });
    expect(result.errorLines).toEqual([
      expect.stringMatching(
        new RegExp(
          `^pullback: archive ${escapeRegExp(named(url))} has format version 2, this pullback reads 1; HINT: a newer pullback wrote it: upgrade pullback to open it$`,
        ),
      ),
    ]);
    expect(result.code).toBe(1);
  });
});
