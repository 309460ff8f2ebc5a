import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initArchive } from '@pullback/archive';
import { quietSchedule, type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { openPipeline, type Pipeline } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli } from './run-cli.js';

/*
 * docs/rights.md on the fs driver, with real file permissions: each role runs as its
 * own OS user with only the rights that document gives it. The export role (`nobody`)
 * writes its outbox and cannot reach the archive or its key at all; the pull-backup
 * role (root here) writes the archive; the import role (`postgres`) reads an archive
 * tree it cannot write (files 0400, directories 0500) with its own copy of the key.
 */

const execFileAsync = promisify(execFile);

interface Account {
  readonly uid: number;
  readonly gid: number;
}

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let pipeline: Pipeline;
const running = new Set<ChildProcess>();
let exporter: Account;
let importer: Account;

async function account(name: string): Promise<Account> {
  const id = async (flag: string) => Number((await execFileAsync('id', [flag, name])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

const path = (...parts: string[]) => join(scratch.path, ...parts);

/** Every file of the archive with its size, mode, owner and mtime: to show that a reader changed nothing. */
async function archiveFacts(): Promise<string[]> {
  const facts: string[] = [];
  for (const name of await readdir(path('archive'), { recursive: true })) {
    const info = await stat(path('archive', name));
    facts.push(`${name} ${info.size} ${info.mode.toString(8)} ${info.uid} ${info.mtimeMs}`);
  }
  return facts.sort();
}

/** `pullback up --roles ROLE` as `user` (root when undefined); resolves once it runs. */
async function startRole(role: string, config: string, user?: Account): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'up', '--roles', role, '--config', config], {
    ...(user ?? {}),
    cwd: scratch.path,
    env: { ...process.env, HOME: scratch.path },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(`up --roles ${role} to start`, async () => {
    if (child.exitCode !== null) throw new Error(`up --roles ${role} exited: ${output}`);
    return output.includes('running; stop with Ctrl-C') ? true : undefined;
  });
  return child;
}

async function stopRole(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  running.delete(child);
}

function config(options: { keyFile?: string; stateDir: string }): string {
  return `redis: ${redis.url}
archive: { url: ${path('archive')}${options.keyFile === undefined ? '' : `, keyFile: ${options.keyFile}`} }
stateDir: ${options.stateDir}
components:
  docs:
    recipe: files
    path: ${path('src')}
    outbox: ${path('outbox')}
    schedule: "${quietSchedule()}"
    instances:
      - { name: docs-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${path('src')}, priority: 100 }
      - { name: docs-b, role: fallback, host: 127.0.0.1, port: 2, dataDir: ${path('fallback')}, priority: 50 }
`;
}

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-least-rights')]);
  [exporter, importer] = await Promise.all([account('nobody'), account('postgres')]);
  await chmod(scratch.path, 0o755);
  await mkdir(path('src', 'notes'), { recursive: true });
  await writeFile(path('src', 'readme.txt'), 'the docs\n');
  await writeFile(path('src', 'notes', 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 'pullback '));
  await chmod(path('src'), 0o755);
  await chmod(path('src', 'notes'), 0o755);
  for (const [dir, owner] of [
    ['outbox', exporter],
    ['state-export', exporter],
    ['state-pull', undefined],
    ['state-import', importer],
    ['fallback', importer],
  ] as const) {
    await mkdir(path(dir), { mode: 0o700 });
    if (owner !== undefined) await chown(path(dir), owner.uid, owner.gid);
  }
  // The archive and its key, as the pull side keeps them: root's, 0700 and 0600.
  await initArchive({ archive: path('archive'), keyFile: path('archive.key') });
  // The import host's own copy of the key.
  await copyFile(path('archive.key'), path('import.key'));
  await chown(path('import.key'), importer.uid, importer.gid);
  await chmod(path('import.key'), 0o400);
  await writeFile(path('export.yaml'), config({ stateDir: path('state-export') }));
  await writeFile(path('pull.yaml'), config({ keyFile: path('archive.key'), stateDir: path('state-pull') }));
  await writeFile(
    path('import.yaml'),
    config({ keyFile: path('import.key'), stateDir: path('state-import') }),
  );
  pipeline = openPipeline({ redis: redis.url });
}, 120_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await pipeline?.close();
  await redis?.stop();
  await scratch?.remove();
});

describe('each role with only the rights docs/rights.md gives it (fs driver)', () => {
  it('export writes only its outbox, pull-backup writes the archive, import restores from a read-only archive', async () => {
    const exportRole = await startRole('export', path('export.yaml'), exporter);
    const pullRole = await startRole('pull-backup', path('pull.yaml'));
    // The export's user cannot even look at the archive or its key.
    await expect(
      execFileAsync('test', ['-r', path('archive', 'config')], { uid: exporter.uid, gid: exporter.gid }),
    ).rejects.toThrow();

    const requested = await runCli(['export', 'docs', '--now', '--config', path('pull.yaml')]);
    expect(requested.stderr).toBe('');
    const snapshotId = await waitFor(
      'the snapshot to be committed and its import queued',
      async () => {
        const id = (await pipeline.registry.component('docs'))?.lastSnapshot?.id;
        return id !== undefined && (await pipeline.isImportPending('docs-b', id)) ? id : undefined;
      },
      120_000,
    );
    await stopRole(pullRole);
    await stopRole(exportRole);
    // The pull emptied the outbox the export wrote as `nobody`.
    const left = await readdir(path('outbox'), { recursive: true, withFileTypes: true });
    expect(left.filter((entry) => entry.isFile())).toEqual([]);

    // The archive as the import host sees it: readable, not writable (a read-only mount, in effect).
    await execFileAsync('chown', ['-R', `${importer.uid}:${importer.gid}`, path('archive')]);
    await execFileAsync('find', [path('archive'), '-type', 'f', '-exec', 'chmod', '0400', '{}', '+']);
    await execFileAsync('find', [path('archive'), '-type', 'd', '-exec', 'chmod', '0500', '{}', '+']);
    await expect(
      execFileAsync('touch', [path('archive', 'locks', 'probe')], { uid: importer.uid, gid: importer.gid }),
    ).rejects.toThrow(/Permission denied/);
    const before = await archiveFacts();

    const importRole = await startRole('import', path('import.yaml'), importer);
    const state = await waitFor(
      'the fallback to hold the snapshot',
      async () => {
        const found = (await pipeline.registry.instance('docs-b'))?.state;
        return found?.snapshotId === snapshotId && found.healthy ? found : undefined;
      },
      120_000,
    );
    await stopRole(importRole);
    expect(state.reason).toBeUndefined();
    expect(await readFile(path('fallback', 'readme.txt'), 'utf8')).toBe('the docs\n');
    expect(await readFile(path('fallback', 'notes', 'big.bin'))).toEqual(
      await readFile(path('src', 'notes', 'big.bin')),
    );
    expect(await archiveFacts()).toEqual(before);
  }, 300_000);
});
