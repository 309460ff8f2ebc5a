import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveWalFile, backupTree, listWal, openArchive, segmentName } from '@pullback/archive';
import { snapshotTags } from '@pullback/pipeline/snapshot-description';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const SEGMENT = 1024 * 1024;

describe('forget and prune drop the wal and proofs of forgotten snapshots', () => {
  let work: string;
  let args: string[];
  const ids: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-forget-wal-'));
    args = ['--archive', join(work, 'archive'), '--key-file', join(work, 'key')];
    expect((await runCli(['archive', 'init', ...args])).code).toBe(0);
    const archive = await openArchive({ archive: join(work, 'archive'), keyFile: join(work, 'key') });
    await mkdir(join(work, 'source'));
    for (const [round, startLsn] of ['0/100028', '0/300000', '0/500000'].entries()) {
      await writeFile(join(work, 'source', 'PG_VERSION'), `${round}\n`);
      const snapshot = await backupTree(archive, join(work, 'source'), {
        tags: snapshotTags({
          component: 'db',
          kind: 'physical',
          server: { systemIdentifier: '42', timeline: 1, startLsn, endLsn: startLsn },
        }),
      });
      ids.push(snapshot.id);
      await archive.backend.save(`proofs/${snapshot.id}`, Buffer.from('proof'));
    }
    for (const n of [1, 2, 3, 4, 5, 6]) {
      await archiveWalFile(archive, 'db.42', segmentName(BigInt(n), 1, SEGMENT), Buffer.alloc(SEGMENT, n), {
        segmentSize: SEGMENT,
        partial: false,
        firstReceivedAt: new Date().toISOString(),
        lastReceivedAt: new Date().toISOString(),
      });
    }
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('says what it would remove, removes it, and verify then finds the chain whole', async () => {
    const dry = await runCli([
      'forget',
      '--component',
      'db',
      '--keep-last',
      '2',
      '--dry-run',
      '--prune',
      ...args,
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      /^wal db\.42: would remove 2 segments \(.+\) before 0\/300000, where the oldest kept snapshot starts$/m,
    );

    const result = await runCli(['forget', '--component', 'db', '--keep-last', '2', '--prune', ...args]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^db: kept 2, forgot 1/m);
    expect(result.stdout).toMatch(/^wal db\.42: removed 2 segments \(.+\) before 0\/300000/m);
    expect(result.stdout).toMatch(/^prune: removed the restore proofs of 1 forgotten snapshot$/m);

    const archive = await openArchive({ archive: join(work, 'archive'), keyFile: join(work, 'key') });
    expect((await listWal(archive, 'db.42')).map((info) => info.name.slice(-2))).toEqual([
      '03',
      '04',
      '05',
      '06',
    ]);
    const proofs: string[] = [];
    for await (const info of archive.backend.list('proofs/')) proofs.push(info.name);
    expect(proofs.sort()).toEqual([`proofs/${ids[1]}`, `proofs/${ids[2]}`].sort());

    const verify = await runCli(['verify', ...args]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^ok: 2 snapshots, \d+ packs, 4 wal objects$/m);
  });

  it('verify names a missing segment of the wal with the lsns and times it costs', async () => {
    await rm(join(work, 'archive', 'wal', 'db.42', '00000001', '000000010000000000000004'));
    const verify = await runCli(['verify', '--repair', ...args]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(
      /^wal stream db\.42: timeline 1: wal 0\/400000 to 0\/500000 is missing: no restore to a time between \S+ and \S+$/m,
    );
    expect(verify.stdout).toMatch(/^1 problems: 2 snapshots, \d+ packs, 3 wal objects$/m);
    expect(verify.stdout).not.toMatch(/repair/);
  });
});
