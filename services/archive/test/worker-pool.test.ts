import { mkdir, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { backupTree, restoreSnapshot } from '../src/index.js';
import type { SmallResult } from '../src/threads/tasks.js';
import { workSetup } from '../src/threads/work-context.js';
import { defaultWorkers, WorkerPool } from '../src/threads/worker-pool.js';
import { newWorkspace, onDisk } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

/**
 * `workers` given as a function: a backup in place calls the archive before its
 * listing is done, and only knows once its first entries are out whether the work is
 * small enough for the calling thread.
 */
describe('a pool whose size is asked at its first task', () => {
  it.each([
    ['0: the calling thread', 0],
    ['undefined: the default', undefined],
  ] as const)('asks once, after the source gave its first entries (%s)', async (_what, answer) => {
    const ws = await newWorkspace('worker-pool');
    try {
      const root = ws.path('src');
      await mkdir(root);
      const files = { small: pseudoRandom(1, 3000), large: pseudoRandom(2, 600_000) };
      for (const [name, bytes] of Object.entries(files)) await writeFile(ws.path('src', name), bytes);
      const log: string[] = [];
      const snapshot = await backupTree(ws.archive, root, {
        workers: () => {
          log.push('asked');
          return answer;
        },
        source: async function* () {
          log.push('first entries');
          yield await onDisk(root, '');
          for (const name of Object.keys(files).sort()) yield await onDisk(root, name);
        },
      });
      expect(log.filter((line) => line === 'asked')).toEqual(['asked']);
      expect(log.indexOf('first entries')).toBeLessThan(log.indexOf('asked'));
      expect(snapshot.stats.files).toBe(2);
      await restoreSnapshot(ws.archive, snapshot.id, { target: ws.path('restored') });
    } finally {
      await ws.remove();
    }
  });

  it.each([
    [0, 0],
    [1, 1],
    [undefined, defaultWorkers()],
  ] as const)(
    'runs as many threads as the answer says (%s -> %s), the most it may before',
    async (answer, size) => {
      const ws = await newWorkspace('worker-pool-size');
      const pool = new WorkerPool(workSetup(ws.archive), () => answer);
      try {
        await writeFile(ws.path('file'), 'small');
        expect(pool.size).toBe(defaultWorkers());
        const result = await pool.run<SmallResult>({ kind: 'small', files: [{ path: ws.path('file') }] });
        expect(result.files[0]).toMatchObject({ size: 5 });
        expect(pool.size).toBe(size);
      } finally {
        await pool.close();
        await ws.remove();
      }
    },
  );
});
