import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * With --archive, the config's archive.keyFile is not used (it belongs to the config's
 * archive). A user whose config has one must be told so, not told to set it.
 */
describe('no key for --archive while the config has archive.keyFile', () => {
  let work: string;
  let config: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-key-hint-'));
    const key = join(work, 'archive.key');
    expect(
      (await runCli(['archive', 'init', '--archive', join(work, 'archive'), '--key-file', key])).code,
    ).toBe(0);
    config = join(work, 'pullback.yaml');
    await writeFile(
      config,
      `redis: redis://127.0.0.1:6379\narchive: { url: ${join(work, 'archive')}, keyFile: ${key} }\ncomponents: {}\n`,
    );
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('says the config key file is not used with --archive, and exits 12', async () => {
    const archive = join(work, 'archive');
    const result = await runCli(['snapshots', '--archive', archive, '--config', config]);
    expect(result.code).toBe(12);
    expect(result.errorLines).toEqual([
      `pullback: no archive key given for --archive ${archive}; HINT: archive.keyFile of ${config} is used only with its archive.url: pass --key-file ${join(work, 'archive.key')}, or leave out --archive`,
    ]);
  });
});
