import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from '@pullback/harness';
import { describe, expect, it } from 'vitest';
import { LagClock } from '../src/wal/lag-clock.js';
import { lsnDistance } from '../src/wal/lsn.js';
import { partialContentBytes, partialFileContentBytes } from '../src/wal/partial-content.js';
import { listSpool } from '../src/wal/spool-files.js';

const MiB = 1024 * 1024;

describe("the spool's WAL files", () => {
  it('finds the received bytes of a zero-filled partial segment, page by page and within its last page', () => {
    const file = Buffer.alloc(16 * MiB);
    expect(partialContentBytes(file)).toBe(0);
    file.fill(7, 0, 8192 * 3 + 100);
    expect(partialContentBytes(file)).toBe(8192 * 3 + 104);
    // Scanning from a known end finds the same, and never less than that end.
    expect(partialContentBytes(file, 8192 * 2)).toBe(8192 * 3 + 104);
    file.fill(7, 0, 16 * MiB);
    expect(partialContentBytes(file, 8192)).toBe(16 * MiB);
  });

  it('finds the same end in an open file, read piece by piece from the page of the known end', async () => {
    const spool = await scratchDir('partial-file');
    try {
      const file = Buffer.alloc(MiB);
      const path = join(spool.path, 'partial');
      const piece = Buffer.alloc(8192 * 4);
      for (const [received, from] of [
        [0, 0],
        [8192 * 3 + 100, 0],
        [8192 * 3 + 100, 8192 * 2],
        [8192 * 8, 8192],
        [8192 * 40 + 5, 8192 * 33],
        [MiB, 8192],
      ] as const) {
        file.fill(0).fill(7, 0, received);
        await writeFile(path, file);
        const handle = await open(path, 'r');
        try {
          expect(await partialFileContentBytes(handle, MiB, from, piece)).toBe(
            partialContentBytes(file, from),
          );
        } finally {
          await handle.close();
        }
      }
    } finally {
      await spool.remove();
    }
  });

  it('measures the bytes between two positions, none backwards', () => {
    expect(lsnDistance('0/3000028', '0/3000128')).toBe(256);
    expect(lsnDistance('1/0', '0/FFFFFFFF')).toBe(0);
    expect(lsnDistance('0/FFFFFFFF', '1/0')).toBe(1);
  });

  it('lists history files first, then segments by position with the older timeline first, and ignores other files', async () => {
    const spool = await scratchDir('spool');
    try {
      for (const name of [
        '000000020000000000000005.partial',
        '000000010000000000000005.partial',
        '000000010000000000000004',
        '00000002.history',
        'pullback-spool.json',
        '000000010000000000000004.tmp',
      ]) {
        await writeFile(join(spool.path, name), '');
      }
      const files = await listSpool(spool.path, 16 * MiB);
      expect(files.map((file) => [file.file, file.kind, file.name])).toEqual([
        ['00000002.history', 'history', '00000002.history'],
        ['000000010000000000000004', 'segment', '000000010000000000000004'],
        ['000000010000000000000005.partial', 'partial', '000000010000000000000005'],
        ['000000020000000000000005.partial', 'partial', '000000020000000000000005'],
      ]);
    } finally {
      await spool.remove();
    }
  });
});

describe('seconds behind the active', () => {
  it('counts from when the active last wrote what the archive now holds', () => {
    const clock = new LagClock();
    expect(clock.update('0/100', '0/100', 1_000)).toBe(0);
    // Caught up at 1 s, as far as anyone can tell.
    expect(clock.update('0/200', '0/100', 2_000)).toBe(1);
    expect(clock.update('0/300', '0/100', 3_000)).toBe(2);
    // The archive reached what the active had at 2 s: behind since then.
    expect(clock.update('0/400', '0/200', 4_500)).toBe(2.5);
    expect(clock.update('0/400', '0/400', 5_000)).toBe(0);
  });
});
