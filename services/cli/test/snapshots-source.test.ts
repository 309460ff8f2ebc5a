import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * A component's snapshot was staged in a temporary directory that is gone once the
 * backup ends: `snapshots` names its export instead, and the tree's path for
 * `backup files PATH`.
 */
describe('snapshots: where each snapshot came from', () => {
  let work: string;
  let config: string;
  const key = () => ['--key-file', join(work, 'key')];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-source-'));
    await mkdir(join(work, 'docs'));
    await writeFile(join(work, 'docs', 'readme.txt'), 'docs\n');
    config = join(work, 'pullback.yaml');
    await writeFile(
      config,
      [
        'redis: redis://127.0.0.1:6379',
        `archive: { url: ${join(work, 'archive')} }`,
        'components:',
        '  docs:',
        '    recipe: files',
        `    path: ${join(work, 'docs')}`,
        `    outbox: ${join(work, 'outbox')}`,
        '',
      ].join('\n'),
    );
    expect((await runCli(['archive', 'init', '--config', config, ...key()])).code).toBe(0);
    expect((await runCli(['backup', 'docs', '--config', config, ...key()])).code).toBe(0);
    expect((await runCli(['backup', 'files', join(work, 'docs'), '--config', config, ...key()])).code).toBe(
      0,
    );
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("names a component snapshot's export, not its staging directory", async () => {
    const listed = await runCli(['snapshots', '--config', config, ...key()]);
    expect(listed.stderr).toBe('');
    const [header, component, tree] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/ SOURCE$/);
    expect(component).toMatch(/ docs +.* export docs-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(tree).toMatch(new RegExp(` files +.* ${join(work, 'docs')}$`));
  });
});
