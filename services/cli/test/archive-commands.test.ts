import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/** Every file under `root` with the SHA-256 of its content (or its link target), sorted. */
async function fingerprint(root: string): Promise<string[]> {
  const lines: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const name = `${prefix}${entry.name}`;
      if (entry.isDirectory()) {
        lines.push(`${name}/`);
        await walk(path, `${name}/`);
      } else if (entry.isSymbolicLink()) lines.push(`${name} -> link`);
      else
        lines.push(
          `${name} ${createHash('sha256')
            .update(await readFile(path))
            .digest('hex')}`,
        );
    }
  }
  await walk(root, '');
  return lines.sort();
}

describe.each(['fs', 's3'] as const)('archive commands on the %s driver', (driver) => {
  let work: string;
  let s3: S3Server | undefined;
  let archiveArgs: string[];
  let env: NodeJS.ProcessEnv;
  const source = () => join(work, 'source');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-archive-'));
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['cli-archive'] });
      env = s3.env;
      archiveArgs = ['--archive', 's3://cli-archive/history', '--key-file', join(work, 'key')];
    } else {
      env = {};
      archiveArgs = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
    }
    await mkdir(join(source(), 'docs', 'empty'), { recursive: true });
    await writeFile(join(source(), 'docs', 'a file with spaces.txt'), 'hello\n');
    await writeFile(join(source(), 'empty'), '');
    await writeFile(join(source(), 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
    await symlink('big.bin', join(source(), 'link'));
  }, 60_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('init, backup, snapshots and restore round-trip a tree', async () => {
    const init = await runCli(['archive', 'init', ...archiveArgs], { env });
    expect(init.stderr).toBe('');
    expect(init.stdout).toContain('a new key was written to');

    const first = await runCli(['backup', 'files', source(), ...archiveArgs, '--json'], { env });
    expect(first.code).toBe(0);
    const snapshot = JSON.parse(first.stdout) as { id: string; stats: { files: number } };
    expect(snapshot.stats.files).toBe(3);

    const listed = await runCli(['snapshots', ...archiveArgs, '--json'], { env });
    const snapshots = JSON.parse(listed.stdout) as Array<{ id: string; sizes: { logical: number } }>;
    expect(snapshots.map((s) => s.id)).toEqual([snapshot.id]);
    expect(snapshots[0]!.sizes.logical).toBe(3 * 1024 * 1024 + 6);

    const target = join(work, `restore-${driver}`);
    const restored = await runCli(['restore', 'latest', ...archiveArgs, '--target', target], { env });
    expect(restored.stderr).toBe('');
    expect(await fingerprint(target)).toEqual(await fingerprint(source()));

    // Unchanged files are not read again, unless --force says to.
    const again = await runCli(['backup', 'files', source(), ...archiveArgs, '--json'], { env });
    expect((JSON.parse(again.stdout) as { stats: { bytesRead: number } }).stats.bytesRead).toBe(0);
    const forced = await runCli(['backup', 'files', source(), ...archiveArgs, '--json', '--force'], { env });
    expect((JSON.parse(forced.stdout) as { stats: { bytesRead: number } }).stats.bytesRead).toBe(
      3 * 1024 * 1024 + 6,
    );
  });

  it('restores with --delta over a changed tree and leaves out excluded paths', async () => {
    const excluded = await runCli(
      ['backup', 'files', source(), ...archiveArgs, '--exclude', 'docs/*', '--json'],
      {
        env,
      },
    );
    const { id } = JSON.parse(excluded.stdout) as { id: string };
    const target = join(work, `delta-${driver}`);
    await runCli(['restore', id, ...archiveArgs, '--target', target], { env });
    expect(await readdir(join(target, 'docs'))).toEqual([]);

    await writeFile(join(target, 'extra'), 'not in the snapshot');
    const listed = await runCli(['snapshots', ...archiveArgs, '--json'], { env });
    const [full] = JSON.parse(listed.stdout) as Array<{ id: string }>;
    const delta = await runCli(
      ['restore', full!.id.slice(0, 12), ...archiveArgs, '--target', target, '--delta'],
      {
        env,
      },
    );
    expect(delta.code).toBe(0);
    expect(delta.stdout).toMatch(/1 removed/);
    expect(await fingerprint(target)).toEqual(await fingerprint(source()));
  });

  it('refuses bad input with one line and a non-zero exit', async () => {
    const wrongKey = join(work, 'other.key');
    await runCli(['archive', 'init', '--archive', join(work, 'other-archive'), '--key-file', wrongKey]);
    const cases: Array<[string[], RegExp]> = [
      [['snapshots', ...archiveArgs.slice(0, 2), '--key-file', wrongKey], /wrong key/],
      [
        ['snapshots', '--archive', join(work, 'source'), '--key-file', join(work, 'key')],
        /not a pullback archive/,
      ],
      [['restore', 'ffffffffffff', ...archiveArgs, '--target', join(work, 'nowhere')], /no snapshot/],
      [['restore', 'latest', ...archiveArgs, '--target', source()], /not empty/],
      [['backup', 'files', join(work, 'missing'), ...archiveArgs], /missing|does not exist|no such/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { env });
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.errorLines, args.join(' ')).toHaveLength(1);
      expect(result.errorLines[0], args.join(' ')).toMatch(message);
    }
    await expect(readdir(join(work, 'nowhere'))).rejects.toThrow();
  });

  // Last: it damages the archive.
  it('a restore that meets a damaged blob names the file it left out and says what it restored', async () => {
    const damagedSource = join(work, `damaged-source-${driver}`);
    await mkdir(damagedSource);
    await writeFile(join(damagedSource, 'random.bin'), randomBytes(3 * 1024 * 1024));
    await writeFile(join(damagedSource, 'note.txt'), 'kept\n');
    const backup = await runCli(['backup', 'files', damagedSource, ...archiveArgs, '--json'], { env });
    const { id } = JSON.parse(backup.stdout) as { id: string };
    // The new pack holds the 3 MiB of random chunks: its middle is inside one of them.
    const backend =
      driver === 's3'
        ? openBackend('s3://cli-archive/history', {
            s3: {
              endpoint: s3!.endpoint,
              region: s3!.region,
              credentials: { accessKeyId: s3!.accessKeyId, secretAccessKey: s3!.secretAccessKey },
            },
          })
        : openBackend(join(work, 'archive'));
    const packs: { name: string; size: number }[] = [];
    for await (const info of backend.list('data/')) packs.push(info);
    const largest = packs.sort((a, b) => b.size - a.size)[0]!;
    const chunks: Buffer[] = [];
    for await (const chunk of await backend.load(largest.name)) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 1;
    await backend.save(largest.name, bytes);

    const target = join(work, `damaged-restore-${driver}`);
    const restored = await runCli(['restore', id, ...archiveArgs, '--target', target], { env });
    expect(restored.code).toBe(1);
    expect(restored.errorLines).toHaveLength(2);
    expect(restored.errorLines[0]).toMatch(
      /^pullback: damaged, not restored: random\.bin: blob [0-9a-f]{16} in pack/,
    );
    expect(restored.errorLines[1]).toMatch(
      /^pullback: restore of snapshot [0-9a-f]{12} into .* is incomplete: 1 files restored, 1 damaged files not restored; HINT: /,
    );
    expect(await readdir(target)).toEqual(['note.txt']);
  });
});
