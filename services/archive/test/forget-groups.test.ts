import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, forgetSnapshots } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

/**
 * Which snapshots a policy counts together. A component's snapshots are one history
 * whatever directory each was staged in: `pullback backup <component>` and the pull
 * stage every export in a fresh directory, and retention that also grouped by path
 * kept every one of them for ever.
 */
describe('forget groups', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('forget-groups');
  });
  afterAll(async () => {
    await ws.remove();
  });

  async function backupOf(dir: string, tags?: Record<string, string>): Promise<string> {
    await mkdir(ws.path(dir), { recursive: true });
    await writeFile(ws.path(dir, 'file'), dir);
    return (await backupTree(ws.archive, ws.path(dir), tags === undefined ? {} : { tags })).id;
  }

  it("counts a component's snapshots together whatever path each was staged in", async () => {
    const older = await backupOf('staging-1', { component: 'shop' });
    const newer = await backupOf('staging-2', { component: 'shop' });
    const other = await backupOf('staging-3', { component: 'docs' });
    const result = await forgetSnapshots(ws.archive, { policy: { keepLast: 1 } });
    expect(result.forgotten.map((s) => s.id)).toEqual([older]);
    expect(result.kept.map((s) => s.id).sort()).toEqual([newer, other].sort());
  });

  it('counts snapshots without a component by their path', async () => {
    const a = await backupOf('tree-a');
    const b = await backupOf('tree-b');
    const result = await forgetSnapshots(ws.archive, { policy: { keepLast: 1 }, dryRun: true });
    expect(result.forgotten.map((s) => s.id)).not.toContain(a);
    expect(result.forgotten.map((s) => s.id)).not.toContain(b);
  });
});
