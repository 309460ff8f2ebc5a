import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('the kind of a directory tree snapshot', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-kinds-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is the same from `backup files` and from a files component', async () => {
    await mkdir(join(work, 'source'));
    await writeFile(join(work, 'source', 'kept.txt'), 'kept\n');
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
`,
    );
    const direct = await runCli(['backup', 'files', join(work, 'source'), ...archiveArgs]);
    expect(direct.errorLines).toEqual([]);
    const component = await runCli(['backup', 'docs', '--config', config]);
    expect(component.errorLines).toEqual([]);
    const listed = await runCli(['snapshots', '--json', ...archiveArgs]);
    const snapshots = JSON.parse(listed.stdout) as { tags: Record<string, string> }[];
    expect(snapshots.map((snapshot) => [snapshot.tags.recipe, snapshot.tags.kind])).toEqual([
      ['files', 'physical'],
      ['files', 'physical'],
    ]);
  });
});
