import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

async function objects(backend: Backend, prefix: string): Promise<{ name: string; size: number }[]> {
  const found: { name: string; size: number }[] = [];
  for await (const info of backend.list(prefix)) found.push(info);
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

async function readObject(backend: Backend, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await backend.load(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Flips one bit of a stored object, through the backend (so on fs and S3 alike). */
async function flipBit(backend: Backend, name: string, offset: number): Promise<void> {
  const bytes = await readObject(backend, name);
  bytes[offset] = bytes[offset]! ^ 1;
  await backend.save(name, bytes);
}

describe.each(['fs', 's3'] as const)('damage and repair from the command line on the %s driver', (driver) => {
  let work: string;
  let s3: S3Server | undefined;
  let env: NodeJS.ProcessEnv;
  let args: string[];
  let backend: Backend;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-repair-'));
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['cli-repair'] });
      env = s3.env;
      args = ['--archive', 's3://cli-repair/archive', '--key-file', join(work, 'key')];
      backend = openBackend('s3://cli-repair/archive', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    } else {
      env = {};
      args = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
      backend = openBackend(join(work, 'archive'));
    }
    await runCli(['archive', 'init', ...args], { env });
    await mkdir(join(work, 'source'));
    await writeFile(join(work, 'source', 'big.bin'), randomBytes(3 * 1024 * 1024));
    await writeFile(join(work, 'source', 'note.txt'), 'note\n');
    expect((await runCli(['backup', 'files', join(work, 'source'), ...args], { env })).code).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('a damaged snapshot is warned of and left out; verify --repair moves it aside', async () => {
    // The older snapshot is damaged: the later test's backup stores again only what the
    // newer ones need (ids are hashes, so the order of names says nothing).
    const [first] = await objects(backend, 'snapshots/');
    await writeFile(join(work, 'source', 'note.txt'), 'second\n');
    expect((await runCli(['backup', 'files', join(work, 'source'), ...args], { env })).code).toBe(0);
    await flipBit(backend, first!.name, 20);
    const id = first!.name.slice(-64);

    const listed = await runCli(['snapshots', ...args], { env });
    expect(listed.code).toBe(0);
    expect(listed.errorLines).toEqual([
      `pullback: warning: snapshot ${id.slice(0, 12)} fails authentication: left out (\`pullback verify\` lists the damage)`,
    ]);
    const verified = await runCli(['verify', ...args], { env });
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(
      `snapshot ${id.slice(0, 12)}: snapshot ${id.slice(0, 12)} fails authentication`,
    );
    const pruned = await runCli(['forget', '--keep-last', '5', '--prune', ...args], { env });
    expect(pruned.code).toBe(1);
    expect(pruned.stderr).toContain('prune cannot tell what it needs, and removes nothing');

    const damagedBytes = await readObject(backend, first!.name);
    const repaired = await runCli(['verify', '--repair', ...args], { env });
    expect(repaired.stdout).toContain(`repair: moved damaged snapshots/${id} to damaged/snapshots/${id}`);
    expect(repaired.stdout).toContain('after repair: ok');
    expect(repaired.code).toBe(0);
    await expect(backend.stat(first!.name)).rejects.toThrow();
    expect((await runCli(['forget', '--keep-last', '5', '--prune', ...args], { env })).code).toBe(0);
    // Prune never removes what repair kept aside.
    expect(await readObject(backend, `damaged/snapshots/${id}`)).toEqual(damagedBytes);
  }, 300_000);

  it('a backup after a lost pack stores it again; a damaged index is rebuilt by repair index', async () => {
    const largest = (await objects(backend, 'data/')).sort((a, b) => b.size - a.size)[0]!;
    await backend.remove(largest.name);
    const backup = await runCli(['backup', 'files', join(work, 'source'), ...args], { env });
    expect(backup.code).toBe(0);
    expect(backup.stderr).toMatch(/pullback: warning: pack [0-9a-f]{16} is missing: \d+ blobs are lost/);
    const restored = await runCli(['restore', 'latest', ...args, '--target', join(work, 'out')], { env });
    expect(restored.code).toBe(0);
    expect(await readFile(join(work, 'out', 'big.bin'))).toEqual(
      await readFile(join(work, 'source', 'big.bin')),
    );

    const [index] = await objects(backend, 'index/');
    await flipBit(backend, index!.name, 30);
    const damagedBytes = await readObject(backend, index!.name);
    expect((await runCli(['verify', ...args], { env })).code).toBe(1);
    const rebuilt = await runCli(['repair', 'index', ...args], { env });
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toMatch(
      /^index rebuilt from \d+ packs \(\d+ blobs\), replacing \d+ index objects/,
    );
    expect(rebuilt.stdout).toContain(`moved damaged ${index!.name} to damaged/${index!.name}`);
    expect(await readObject(backend, `damaged/${index!.name}`)).toEqual(damagedBytes);
    const verified = await runCli(['verify', '--read-data', ...args], { env });
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
  }, 300_000);
});
