import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * A component whose retention is all zeros has no retention, as for the pull
 * (pull-artifact.ts): `forget` from the config leaves it alone and applies the others'.
 */
describe('forget from the config with a component whose retention is all zeros', () => {
  let work: string;
  let config: string;
  const key = () => ['--key-file', join(work, 'key')];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-forget-zero-'));
    const lines = [
      'redis: redis://127.0.0.1:6379',
      `archive: { url: ${join(work, 'archive')} }`,
      'components:',
    ];
    for (const [name, retention] of <const>[
      ['docs', '{ keepLast: 1 }'],
      ['logs', '{ keepLast: 0 }'],
    ]) {
      await mkdir(join(work, name));
      lines.push(
        `  ${name}:`,
        '    recipe: files',
        `    path: ${join(work, name)}`,
        `    outbox: ${join(work, 'outbox', name)}`,
        `    retention: ${retention}`,
      );
    }
    config = join(work, 'pullback.yaml');
    await writeFile(config, `${lines.join('\n')}\n`);
    expect((await runCli(['archive', 'init', '--config', config, ...key()])).code).toBe(0);
    for (const name of ['docs', 'logs']) {
      for (const round of [1, 2]) {
        await writeFile(join(work, name, 'note.txt'), `${name} ${round}\n`);
        expect((await runCli(['backup', name, '--config', config, ...key()])).code).toBe(0);
      }
    }
  }, 120_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('forgets by the policies that keep something and leaves the other alone', async () => {
    const result = await runCli(['forget', '--config', config, ...key()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // backup docs applied keepLast 1 itself already.
    expect(result.stdout).toBe('docs: kept 1, forgot 0\n');
    const listed = await runCli(['snapshots', '--json', '--component', 'logs', '--config', config, ...key()]);
    expect(JSON.parse(listed.stdout)).toHaveLength(2);
  });
});
