import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, verifyArchive } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom, writeLargeFile } from './helpers/make-tree.js';

describe('verify', () => {
  let ws: Workspace;
  let snapshotId: string;
  beforeAll(async () => {
    ws = await newWorkspace('verify');
    await writeLargeFile(ws.path('src', 'data.bin'), 24 * 1024 * 1024, (i, n) => pseudoRandom(i + 40, n));
    await writeLargeFile(ws.path('src', 'base', '1', '2'), 12 * 1024 * 1024, (i, n) =>
      pseudoRandom(i + 60, n),
    );
    await writeFile(ws.path('src', 'note.txt'), 'hello');
    snapshotId = (await backupTree(ws.archive, ws.path('src'))).id;
  });
  afterAll(async () => {
    await ws.remove();
  });

  it('passes on a sound archive, with and without reading data', async () => {
    const quick = await verifyArchive(ws.archive);
    expect(quick).toMatchObject({ ok: true, snapshots: 1, problems: [] });
    const full = await verifyArchive(ws.archive, { readData: true });
    expect(full.ok).toBe(true);
    expect(full.blobsRead).toBeGreaterThan(30);
  });

  it('finds a flipped byte with --read-data and names the snapshot and file', async () => {
    const packs: { name: string; size: number }[] = [];
    for await (const info of ws.backend.list('data/')) packs.push(info);
    const largest = packs.sort((a, b) => b.size - a.size)[0]!;
    const handle = await open(join(ws.archiveDir, largest.name), 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 5000);
    byte[0] = byte[0]! ^ 1;
    await handle.write(byte, 0, 1, 5000);
    await handle.close();

    const full = await verifyArchive(ws.archive, { readData: true });
    expect(full.ok).toBe(false);
    const messages = full.problems.map((p) => `${p.snapshot ?? ''} ${p.file ?? ''} ${p.message}`);
    expect(messages.some((m) => m.includes('content does not match its name'))).toBe(true);
    const affected = full.problems.filter((p) => p.snapshot === snapshotId.slice(0, 12) && p.file);
    expect(affected.length).toBeGreaterThan(0);
    expect(affected[0]!.message).toContain('authentication failed');
  });

  it('reports a missing pack without reading data', async () => {
    const packs: { name: string; size: number }[] = [];
    for await (const info of ws.backend.list('data/')) packs.push(info);
    await rm(join(ws.archiveDir, packs.sort((a, b) => b.size - a.size)[0]!.name));
    const quick = await verifyArchive(ws.archive);
    expect(quick.ok).toBe(false);
    expect(quick.problems[0]).toMatchObject({ snapshot: snapshotId.slice(0, 12) });
    expect(quick.problems[0]!.message).toMatch(/pack [0-9a-f]{16} is missing/);
  });
});
