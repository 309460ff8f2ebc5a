import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveArchiveAccess } from '../src/archive-access.js';

const CONFIG = `redis: redis://127.0.0.1:6379
archive:
  url: s3://bucket/history
  keyFile: /etc/pullback/archive.key
components: {}
`;

let dir: string;
let config: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pullback-access-'));
  config = join(dir, 'pullback.yaml');
  await writeFile(config, CONFIG);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveArchiveAccess', () => {
  it('--archive needs no config; the key comes from --key-file, else PULLBACK_PASSWORD', async () => {
    const missingConfig = join(dir, 'none.yaml');
    expect(await resolveArchiveAccess({ archive: '/a', keyFile: 'k', config: missingConfig }, {})).toEqual({
      url: '/a',
      keyFile: 'k',
      from: '--archive',
    });
    expect(await resolveArchiveAccess({ archive: '/a' }, { PULLBACK_PASSWORD: 'secret' })).toEqual({
      url: '/a',
      password: 'secret',
      from: '--archive',
    });
  });

  it("never pairs the config's key file with another archive", async () => {
    expect(await resolveArchiveAccess({ archive: '/other', config }, {})).toEqual({
      url: '/other',
      from: '--archive',
    });
  });

  it("takes the archive and its key file from the config, the flag's key first", async () => {
    expect(await resolveArchiveAccess({ config }, {})).toEqual({
      url: 's3://bucket/history',
      keyFile: '/etc/pullback/archive.key',
      from: config,
    });
    expect(await resolveArchiveAccess({}, { PULLBACK_CONFIG: config, PULLBACK_PASSWORD: 'pw' })).toEqual({
      url: 's3://bucket/history',
      password: 'pw',
      from: config,
    });
  });

  it('says how to name an archive when there is none', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await rm(config);
      await expect(resolveArchiveAccess({}, {})).rejects.toThrow(/^no archive given: pass --archive URL/);
    } finally {
      process.chdir(cwd);
      await writeFile(config, CONFIG);
    }
  });

  it('a named config that is missing is an error, not "no archive"', async () => {
    await expect(resolveArchiveAccess({ config: join(dir, 'gone.yaml') }, {})).rejects.toMatchObject({
      lines: [`${join(dir, 'gone.yaml')}: no such file`],
    });
  });
});
