import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listSnapshots } from '@pullback/archive';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backupComponent, type StepProgress } from '../src/index.js';
import { type Sandbox, sandbox } from './helpers/fixtures.js';
import { treeRecipe } from './helpers/tree-recipe.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

let box: Sandbox;

beforeEach(async () => {
  // No Redis at all: the URL in the config is never used.
  box = await sandbox('redis://127.0.0.1:1');
  await mkdir(box.source, { recursive: true });
  await writeFile(join(box.source, 'status'), 'one-shot\n');
});

afterEach(async () => {
  await box?.remove();
});

describe('backupComponent', () => {
  it('exports and pulls one snapshot with no Redis, leaving the outbox empty', async () => {
    const stages = new Set<string>();
    const result = await backupComponent({
      component: 'docs',
      config: box.config.components.docs!,
      recipe: treeRecipe(),
      outbox: box.outbox,
      archive: box.archive,
      stagingDir: box.stagingDir,
      onProgress: (progress: StepProgress) => stages.add(progress.stage),
    });
    expect(result.snapshot.tags).toMatchObject({ component: 'docs', recipe: 'tree', kind: 'physical' });
    expect(result.snapshot.tags.epoch).toBeUndefined();
    expect(result.imports).toEqual([]);
    expect(stages).toEqual(new Set(['export', 'ingest']));
    expect(await listSnapshots(box.archive, { component: 'docs' })).toHaveLength(1);
    const objects: string[] = [];
    for await (const info of box.outbox.list('')) objects.push(info.name);
    expect(objects).toEqual([]);
  });
});
