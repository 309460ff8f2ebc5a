import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

async function files(dir: string): Promise<{ path: string; size: number }[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map(async (entry) => {
        const path = join(entry.parentPath, entry.name);
        return { path, size: (await stat(path)).size };
      }),
  );
}

async function flipBit(path: string, offset: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[offset] = bytes[offset]! ^ 1;
  await writeFile(path, bytes);
}

describe('damage and repair from the command line', () => {
  let work: string;
  let args: string[];
  const archiveDir = () => join(work, 'archive');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-repair-'));
    args = ['--archive', archiveDir(), '--key-file', join(work, 'key')];
    await runCli(['archive', 'init', ...args]);
    await mkdir(join(work, 'source'));
    await writeFile(join(work, 'source', 'big.bin'), randomBytes(3 * 1024 * 1024));
    await writeFile(join(work, 'source', 'note.txt'), 'note\n');
    expect((await runCli(['backup', 'files', join(work, 'source'), ...args])).code).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('a damaged snapshot is warned of and left out; verify --repair moves it aside', async () => {
    await writeFile(join(work, 'source', 'note.txt'), 'second\n');
    expect((await runCli(['backup', 'files', join(work, 'source'), ...args])).code).toBe(0);
    const [first] = (await files(join(archiveDir(), 'snapshots'))).sort((a, b) =>
      a.path.localeCompare(b.path),
    );
    await flipBit(first!.path, 20);
    const id = first!.path.slice(-64);

    const listed = await runCli(['snapshots', ...args]);
    expect(listed.code).toBe(0);
    expect(listed.errorLines).toEqual([
      `pullback: warning: snapshot ${id.slice(0, 12)} fails authentication: left out (\`pullback verify\` lists the damage)`,
    ]);
    const verified = await runCli(['verify', ...args]);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(
      `snapshot ${id.slice(0, 12)}: snapshot ${id.slice(0, 12)} fails authentication`,
    );
    const pruned = await runCli(['forget', '--keep-last', '5', '--prune', ...args]);
    expect(pruned.code).toBe(1);
    expect(pruned.stderr).toContain('prune cannot tell what it needs, and removes nothing');

    const damagedBytes = await readFile(first!.path);
    const repaired = await runCli(['verify', '--repair', ...args]);
    expect(repaired.stdout).toContain(`repair: moved damaged snapshots/${id} to damaged/snapshots/${id}`);
    expect(repaired.stdout).toContain('after repair: ok');
    expect(repaired.code).toBe(0);
    await expect(stat(first!.path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await runCli(['forget', '--keep-last', '5', '--prune', ...args])).code).toBe(0);
    expect(await readFile(join(archiveDir(), 'damaged', 'snapshots', id))).toEqual(damagedBytes);
  }, 300_000);

  it('a backup after a lost pack stores it again; a damaged index is rebuilt by repair index', async () => {
    const largest = (await files(join(archiveDir(), 'data'))).sort((a, b) => b.size - a.size)[0]!;
    await rm(largest.path);
    const backup = await runCli(['backup', 'files', join(work, 'source'), ...args]);
    expect(backup.code).toBe(0);
    expect(backup.stderr).toMatch(/pullback: warning: pack [0-9a-f]{16} is missing: \d+ blobs are lost/);
    const restored = await runCli(['restore', 'latest', ...args, '--target', join(work, 'out')]);
    expect(restored.code).toBe(0);
    expect(await readFile(join(work, 'out', 'big.bin'))).toEqual(
      await readFile(join(work, 'source', 'big.bin')),
    );

    const [index] = await files(join(archiveDir(), 'index'));
    await flipBit(index!.path, 30);
    const damagedBytes = await readFile(index!.path);
    const indexId = index!.path.slice(-64);
    expect((await runCli(['verify', ...args])).code).toBe(1);
    const rebuilt = await runCli(['repair', 'index', ...args]);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toMatch(
      /^index rebuilt from \d+ packs \(\d+ blobs\), replacing \d+ index objects/,
    );
    expect(rebuilt.stdout).toContain(`moved damaged index/${indexId} to damaged/index/${indexId}`);
    expect(await readFile(join(archiveDir(), 'damaged', 'index', indexId))).toEqual(damagedBytes);
    const verified = await runCli(['verify', '--read-data', ...args]);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
  }, 300_000);
});
