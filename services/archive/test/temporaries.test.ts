import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneArchive } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom, writeLargeFile } from './helpers/make-tree.js';

const CHILD = fileURLToPath(new URL('./helpers/backup-child.mjs', import.meta.url));

// Only the fs driver stages writes in temporaries (S3 uploads are not visible until
// complete), so this is an fs test.
describe('temporaries of killed processes', () => {
  let ws: Workspace;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    ws = await newWorkspace('temporaries');
    await writeLargeFile(ws.path('src', 'noise.bin'), 64 * 1024 * 1024, (i, n) => pseudoRandom(i + 31, n));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await ws.remove();
  });

  const temporaries = async () => readdir(join(ws.archiveDir, '.tmp')).catch(() => [] as string[]);
  // Bytes in the temporaries: a backup killed the moment its temporary appears may not
  // have written into it yet, and the test needs some bytes to see them reclaimed.
  const temporaryBytes = async () => {
    let bytes = 0;
    for (const name of await temporaries()) {
      bytes += (await stat(join(ws.archiveDir, '.tmp', name)).catch(() => ({ size: 0 }))).size;
    }
    return bytes;
  };

  it('are removed by prune, while a live process keeps its own', async () => {
    // Kill -9 backups while they save, until one has left a temporary behind.
    for (let round = 0; round < 10 && (await temporaryBytes()) === 0; round++) {
      const child = spawn(process.execPath, [CHILD, ws.archiveDir, ws.keyFile, ws.path('src')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      await once(child.stdout!, 'data');
      while ((await temporaryBytes()) === 0 && child.exitCode === null) await sleep(1);
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => {});
    }
    const left = await temporaries();
    expect(left.length).toBeGreaterThan(0);
    expect(await temporaryBytes()).toBeGreaterThan(0);

    // A process that lives (a backup waiting for the lock, say) owns this one: it
    // must stay, however old it looks.
    const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(live);
    await once(live, 'spawn');
    const liveName = `${randomUUID()}.${live.pid}.${hostname().slice(0, 180)}`;
    await writeFile(join(ws.archiveDir, '.tmp', liveName), 'in use');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(join(ws.archiveDir, '.tmp', liveName), hourAgo, hourAgo);

    const result = await pruneArchive(ws.archive);
    expect(result.temporariesRemoved).toBe(left.length);
    expect(result.temporaryBytesRemoved).toBeGreaterThan(0);
    expect(await temporaries()).toEqual([liveName]);
    live.kill('SIGKILL');
  });
});
