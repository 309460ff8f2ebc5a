import { execFile, execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, MAIN, runCli } from './run-cli.js';

/** A path under `root` whose last parts are raw bytes (names that are not UTF-8). */
function bytePath(root: string, ...parts: (string | number[])[]): Buffer {
  return Buffer.concat([
    Buffer.from(root),
    ...parts.flatMap((part) => [
      Buffer.from('/'),
      typeof part === 'string' ? Buffer.from(part) : Buffer.from(part),
    ]),
  ]);
}

/** Every entry under `root`, names as hex of their bytes, with content or link target bytes. */
async function byteTree(root: Buffer, prefix = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await readdir(root, { encoding: 'buffer' })) {
    const path = Buffer.concat([root, Buffer.from('/'), name]);
    const shown = `${prefix}${name.toString('hex')}`;
    const stats = await lstat(path);
    if (stats.isDirectory()) {
      lines.push(`${shown}/`);
      lines.push(...(await byteTree(path, `${shown}/`)));
    } else if (stats.isSymbolicLink()) {
      lines.push(`${shown} -> ${(await readlink(path, { encoding: 'buffer' })).toString('hex')}`);
    } else {
      lines.push(`${shown} = ${(await readFile(path)).toString('hex')}`);
    }
  }
  return lines.sort();
}

describe.each(['fs', 's3'] as const)('backup files on the %s driver', (driver) => {
  let work: string;
  let s3: S3Server | undefined;
  let archiveArgs: string[];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-names-'));
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['names'] });
      env = s3.env;
      archiveArgs = ['--archive', 's3://names/archive', '--key-file', join(work, 'key')];
    } else {
      env = {};
      archiveArgs = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
    }
    const init = await runCli(['archive', 'init', ...archiveArgs], { env });
    expect(init.code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('stores names and link targets that are not UTF-8 as bytes and restores them exactly', async () => {
    const source = join(work, 'names');
    await mkdir(source);
    // caf\xe9.txt, as python3 -c "open(b'/d/caf\xe9.txt','w')" makes it.
    await writeFile(bytePath(source, [0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]), 'latin-1 name\n');
    await mkdir(bytePath(source, [0x64, 0xff]));
    await writeFile(bytePath(source, [0x64, 0xff], [0x78, 0xfe, 0x80]), Buffer.alloc(100_000, 3));
    await writeFile(bytePath(source, 'café.txt'), 'utf-8 name\n');
    await symlink(bytePath(source, [0x64, 0xff], [0x78, 0xfe, 0x80]), bytePath(source, [0x6c, 0xe9]));
    const backup = await runCli(['backup', 'files', source, ...archiveArgs], { env });
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(/: 3 files,/);

    const target = join(work, 'names-restored');
    const restored = await runCli(['restore', 'latest', ...archiveArgs, '--target', target], { env });
    expect(restored.stderr).toBe('');
    expect(await byteTree(Buffer.from(target))).toEqual(await byteTree(Buffer.from(source)));

    // A delta restore over a changed target puts the same bytes back and removes what is extra.
    await writeFile(bytePath(target, [0x64, 0xff], [0x78, 0xfe, 0x80]), 'changed');
    await writeFile(bytePath(target, [0x65, 0xe9]), 'extra');
    const delta = await runCli(['restore', 'latest', ...archiveArgs, '--target', target, '--delta'], { env });
    expect(delta.stderr).toBe('');
    expect(await byteTree(Buffer.from(target))).toEqual(await byteTree(Buffer.from(source)));
  });

  it('warns of every entry it skips and exits 3 after making the snapshot', async () => {
    const source = join(work, 'special');
    await mkdir(source);
    await writeFile(join(source, 'kept.txt'), 'kept\n');
    execFileSync('mkfifo', [join(source, 'pipe')]);
    const backup = await runCli(['backup', 'files', source, ...archiveArgs], { env });
    expect(backup.code).toBe(3);
    expect(backup.errorLines).toEqual([
      `pullback: warning: skipped "pipe": a fifo (not stored)`,
      'pullback: snapshot made, 1 entry skipped',
    ]);
    expect(backup.stdout).toMatch(/^snapshot [0-9a-f]{12} of .*: 1 files,/);
    const json = await runCli(['backup', 'files', source, ...archiveArgs, '--json'], { env });
    expect(json.code).toBe(3);
    expect((JSON.parse(json.stdout) as { stats: { skipped: number } }).stats.skipped).toBe(1);
  });

  it('skips what its user cannot read, with a warning each, and exits 3', async () => {
    // Root reads everything: the backup runs as another user, on a tree it only partly may read.
    const tree = join(work, `as-postgres-${driver}`);
    await mkdir(join(tree, 'source', 'closed'), { recursive: true });
    await writeFile(join(tree, 'source', 'open.txt'), 'readable\n');
    await writeFile(join(tree, 'source', 'secret.txt'), 'unreadable\n');
    await writeFile(join(tree, 'source', 'closed', 'inside.txt'), 'unreachable\n');
    const key = join(tree, 'key');
    const args =
      driver === 'fs'
        ? ['--archive', join(tree, 'archive'), '--key-file', key]
        : ['--archive', 's3://names/postgres', '--key-file', key];
    const postgres = ownerOf('postgres');
    for (const path of [
      tree,
      join(tree, 'source'),
      join(tree, 'source', 'closed'),
      join(tree, 'source', 'open.txt'),
      join(tree, 'source', 'secret.txt'),
      join(tree, 'source', 'closed', 'inside.txt'),
    ]) {
      await chown(path, postgres.uid, postgres.gid);
    }
    await chmod(work, 0o755);
    await chmod(join(tree, 'source', 'secret.txt'), 0o000);
    await chmod(join(tree, 'source', 'closed'), 0o000);
    expect((await runAs('postgres', ['archive', 'init', ...args], env)).code).toBe(0);
    const backup = await runAs('postgres', ['backup', 'files', join(tree, 'source'), ...args], env);
    expect(backup.errorLines).toEqual([
      'pullback: warning: skipped "closed": cannot list the directory (permission denied)',
      'pullback: warning: skipped "secret.txt": cannot read the file (permission denied)',
      'pullback: snapshot made, 2 entries skipped',
    ]);
    expect(backup.code).toBe(3);
    expect(backup.stdout).toMatch(/: 1 files,/);
  });
});

function ownerOf(user: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, user]).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The built CLI run as `user` (through runuser), as `runCli` runs it as root. */
function runAs(user: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const clean: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of Object.keys(clean)) if (name.startsWith('PULLBACK_')) delete clean[name];
  return new Promise((resolve, reject) => {
    execFile(
      'runuser',
      ['-u', user, '--', process.execPath, MAIN, ...args],
      { env: clean, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : undefined;
        if (code === undefined) {
          reject(error);
          return;
        }
        resolve({ code, stdout, stderr, errorLines: stderr.split('\n').filter((line) => line !== '') });
      },
    );
  });
}

describe('backup <component> of a files component', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-component-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('warns of what the export left out and exits 3 after making the snapshot', async () => {
    await mkdir(join(work, 'source'));
    await writeFile(join(work, 'source', 'kept.txt'), 'kept\n');
    execFileSync('mkfifo', [join(work, 'source', 'pipe')]);
    const archiveArgs = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
    expect((await runCli(['archive', 'init', ...archiveArgs])).code).toBe(0);
    const config = join(work, 'pullback.yaml');
    await writeFile(
      config,
      `redis: redis://127.0.0.1:1
archive: { url: ${join(work, 'archive')}, keyFile: ${join(work, 'key')} }
components:
  docs:
    recipe: files
    path: ${join(work, 'source')}
    outbox: ${join(work, 'outbox')}
    instances:
      - { name: docs-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${join(work, 'a')}, priority: 0 }
`,
    );
    const backup = await runCli(['backup', 'docs', '--config', config]);
    expect(backup.errorLines).toEqual([
      'pullback: warning: skipped "pipe": a fifo (not stored)',
      'pullback: snapshot made, 1 entry skipped',
    ]);
    expect(backup.code).toBe(3);
    expect(backup.stdout).toMatch(/^snapshot [0-9a-f]{12} of docs \(physical\): 1 files,/);
  });
});
