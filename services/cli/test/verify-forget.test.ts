import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

async function archiveBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

async function packs(dir: string): Promise<string[]> {
  const entries = await readdir(join(dir, 'data'), { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('verify, forget and prune from the command line', () => {
  let work: string;
  let args: string[];
  const archiveDir = () => join(work, 'archive');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-verify-'));
    args = ['--archive', archiveDir(), '--key-file', join(work, 'key')];
    await runCli(['archive', 'init', ...args]);
    await mkdir(join(work, 'source'));
    // Three snapshots of a tree whose big file changes completely each time (random
    // bytes: they dominate the packs, so a flipped byte lands in file data).
    for (let round = 0; round < 3; round++) {
      await writeFile(join(work, 'source', 'big.bin'), randomBytes(2 * 1024 * 1024));
      await writeFile(join(work, 'source', 'note.txt'), `round ${round}\n`);
      const backup = await runCli(['backup', 'files', join(work, 'source'), ...args]);
      expect(backup.code).toBe(0);
    }
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('verify --read-data passes on a sound archive', async () => {
    const result = await runCli(['verify', '--read-data', ...args]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^ok: 3 snapshots, \d+ packs, \d+ chunks/m);
  });

  it('forget --keep-last 1 --prune keeps the newest snapshot and reclaims the space of the others', async () => {
    const before = await archiveBytes(archiveDir());
    const dry = await runCli(['forget', '--keep-last', '1', '--dry-run', ...args]);
    expect(dry.stdout).toMatch(/kept 1, would forget 2/);
    const listed = JSON.parse((await runCli(['snapshots', '--json', ...args])).stdout) as Array<{
      id: string;
    }>;
    expect(listed).toHaveLength(3);

    const result = await runCli(['forget', '--keep-last', '1', '--prune', ...args]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/kept 1, forgot 2/);
    const after = JSON.parse((await runCli(['snapshots', '--json', ...args])).stdout) as Array<{
      id: string;
    }>;
    expect(after.map((s) => s.id)).toEqual([listed[2]!.id]);
    expect(await archiveBytes(archiveDir())).toBeLessThan(before * 0.7);

    const restored = await runCli(['restore', 'latest', ...args, '--target', join(work, 'kept')]);
    expect(restored.code).toBe(0);
    expect((await stat(join(work, 'kept', 'big.bin'))).size).toBe(2 * 1024 * 1024);
    expect((await runCli(['verify', '--read-data', ...args])).code).toBe(0);
  });

  it('a flipped byte in a pack fails verify --read-data and restore, naming the snapshot and file', async () => {
    // The largest pack holds big.bin's data (the trees are in small ones).
    const sizes = await Promise.all(
      (await packs(archiveDir())).map(async (path) => ({ path, size: (await stat(path)).size })),
    );
    const largest = sizes.sort((a, b) => b.size - a.size)[0]!;
    const handle = await open(largest.path, 'r+');
    const middle = Math.floor(largest.size / 3);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, middle);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, middle);
    await handle.close();

    const verify = await runCli(['verify', '--read-data', ...args]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/snapshot [0-9a-f]{12}, file big\.bin: /);
    expect(verify.errorLines).toEqual([
      expect.stringMatching(/^pullback: the archive .* is damaged: \d+ problems$/),
    ]);

    const target = join(work, 'corrupt');
    const restore = await runCli(['restore', 'latest', ...args, '--target', target]);
    expect(restore.code).not.toBe(0);
    // One line per file left out, then what the restore did.
    expect(restore.errorLines).toEqual([
      expect.stringMatching(/^pullback: damaged, not restored: big\.bin: .*authentication failed/),
      expect.stringMatching(/is incomplete: \d+ files restored, 1 damaged files not restored/),
    ]);
  });
});
