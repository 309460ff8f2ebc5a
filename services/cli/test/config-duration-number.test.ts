import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

// `keepWithin: 7` is a span without its unit: the line says what a span looks like.
describe('config check: a keepWithin without a unit', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-duration-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('says a duration is expected, with its forms', async () => {
    const config = join(work, 'pullback.yaml');
    await writeFile(
      config,
      [
        'redis: redis://127.0.0.1:6379',
        'archive: { url: /var/lib/pullback/archive }',
        'components:',
        '  docs:',
        '    recipe: files',
        '    path: /srv/docs',
        '    outbox: /var/lib/pullback/outbox/docs',
        '    retention: { keepWithin: 7 }',
        '',
      ].join('\n'),
    );
    const result = await runCli(['config', 'check', config]);
    expect(result.code).toBe(1);
    expect(result.errorLines).toEqual([
      `${config}: components.docs.retention.keepWithin: expected a duration like "7d", "2w", "36h" or "1y6m" (units: y, m = months, w, d, h), got 7`,
    ]);
  });
});
