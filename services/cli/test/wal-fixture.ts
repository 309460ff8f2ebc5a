import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, archiveWalFile, listWal } from '@pullback/archive';
import type { PostgresServer } from '@pullback/harness';

/**
 * Puts a server's completed WAL segments into the archive as the WAL receiver would
 * (stream `<component>.<systemIdentifier>`), for tests that need archived WAL without
 * running a receiver: `pg_switch_wal()` completes the current segment first. Segments
 * already archived are left as they are; the receive times are the copying time.
 * Returns the stream's name.
 */
export async function archiveCompletedWal(
  server: Pick<PostgresServer, 'dataDir' | 'psql'>,
  archive: Archive,
  component: string,
): Promise<string> {
  const [systemIdentifier, current, segmentSize] = (
    await server.psql(
      `select system_identifier, pg_walfile_name(pg_current_wal_lsn() + 1),
        (select setting from pg_settings where name = 'wal_segment_size')
       from pg_control_system()`,
    )
  ).split('|');
  const stream = `${component}.${systemIdentifier}`;
  const stored = new Set((await listWal(archive, stream)).filter((o) => !o.partial).map((o) => o.name));
  const pgWal = join(server.dataDir, 'pg_wal');
  // (+ 1: right after pg_switch_wal the position is the next segment's first byte, which
  // pg_walfile_name counts to the segment before.) Names after the current segment are recycled files waiting for reuse, not WAL.
  const names = (await readdir(pgWal))
    .filter((name) => (/^[0-9A-F]{24}$/.test(name) && name < current!) || /^[0-9A-F]{8}\.history$/.test(name))
    .filter((name) => !stored.has(name))
    .sort();
  for (const name of names) {
    const content = await readFile(join(pgWal, name));
    const now = new Date().toISOString();
    await archiveWalFile(archive, stream, name, content, {
      segmentSize: Number(segmentSize),
      partial: false,
      firstReceivedAt: now,
      lastReceivedAt: now,
    });
  }
  return stream;
}
