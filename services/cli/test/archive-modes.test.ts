import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pullback-cli-modes-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every path under `root` (and root itself) whose mode is not 0700 for a directory or 0600 for a file. */
async function looseModes(root: string): Promise<string[]> {
  const loose: string[] = [];
  const check = async (path: string): Promise<void> => {
    const info = await lstat(path);
    const mode = info.mode & 0o777;
    if (info.isDirectory()) {
      if (mode !== 0o700) loose.push(`${path} ${mode.toString(8)}`);
      for (const name of await readdir(path)) await check(join(path, name));
    } else if (mode !== 0o600) loose.push(`${path} ${mode.toString(8)}`);
  };
  await check(root);
  return loose;
}

describe('archive modes', () => {
  it('archive init and backup files under umask 000 write files 0600 and directories 0700', async () => {
    const source = join(work, 'source');
    await mkdir(join(source, 'sub'), { recursive: true });
    await writeFile(join(source, 'sub', 'a.txt'), 'hello\n');
    await writeFile(join(source, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
    const archive = join(work, 'archive');
    const args = ['--archive', archive, '--key-file', join(work, 'key')];
    // The children inherit the umask.
    const previous = process.umask(0);
    try {
      expect((await runCli(['archive', 'init', ...args])).code).toBe(0);
      const backup = await runCli(['backup', 'files', source, ...args]);
      expect(backup.stderr).toBe('');
      expect(backup.code).toBe(0);
    } finally {
      process.umask(previous);
    }
    expect(await readdir(archive)).toEqual(expect.arrayContaining(['config', 'keys', 'snapshots']));
    expect(await looseModes(archive)).toEqual([]);
    expect(await looseModes(join(work, 'key'))).toEqual([]);
  });
});
