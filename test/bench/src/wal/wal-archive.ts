import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type Archive, fetchWalFile, listWal, listWalStreams, readWalHeader } from '@pullback/archive';
import { SANDBOX_COMPONENT, type Sandbox } from '@pullback/cli/demo';
import type { RunningPipeline } from '@pullback/workers';

const execFileAsync = promisify(execFile);

/** The sandbox component's WAL stream in the archive. */
export async function sandboxStream(archive: Archive): Promise<string> {
  const streams = (await listWalStreams(archive)).filter((stream) =>
    stream.startsWith(`${SANDBOX_COMPONENT}.`),
  );
  if (streams.length !== 1)
    throw new Error(`expected one WAL stream of ${SANDBOX_COMPONENT}, found ${streams.join(', ') || 'none'}`);
  return streams[0]!;
}

/** What the archive holds of the stream's end: the newest object and how much of it. */
async function archiveEnd(archive: Archive, stream: string): Promise<string> {
  const objects = (await listWal(archive, stream)).filter((object) => !object.history);
  const last = objects.at(-1);
  if (last === undefined) return 'empty';
  const header = await readWalHeader(archive, stream, last.name, { partial: last.partial });
  return `${last.timeline}/${last.name}/${last.partial}/${header?.contentBytes}`;
}

/**
 * Waits until the pull side has stored all it received from a server that died:
 * the receiver no longer streams, and the archive's end has not moved for 3 s.
 */
export async function waitForArchiveToSettle(archive: Archive, running: RunningPipeline): Promise<void> {
  const stream = await sandboxStream(archive);
  let last = '';
  let since = Date.now();
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(250)) {
    const receiver = (await running.pipeline.registry.component(SANDBOX_COMPONENT))?.walReceiver;
    const end = await archiveEnd(archive, stream);
    if (end !== last) {
      last = end;
      since = Date.now();
    } else if (!receiver?.streaming && Date.now() - since >= 3000) {
      return;
    }
  }
  throw new Error('the archive did not settle within 120 s of the active dying');
}

/**
 * The transaction ids whose commit records the archive holds from `fromLsn` on: the
 * stream's segments (the last one partial) fetched into a directory and read by pg_waldump.
 */
export async function committedXids(sandbox: Sandbox, fromLsn: string): Promise<Set<string>> {
  const stream = await sandboxStream(sandbox.archive);
  const objects = (await listWal(sandbox.archive, stream)).filter((object) => !object.history);
  const timeline = objects.at(-1)!.timeline;
  const first =
    (await sandbox.active.psql(`select pg_walfile_name('${fromLsn}')`).catch(() => undefined)) ?? '';
  const dir = await mkdtemp(join(tmpdir(), 'bench-wal-'));
  try {
    const wanted = objects.filter(
      (object) => object.timeline === timeline && object.name.slice(8) >= first.slice(8),
    );
    for (const object of wanted) {
      const file = await fetchWalFile(sandbox.archive, stream, object.name, { allowPartial: true });
      if (file !== undefined) await writeFile(join(dir, object.name), file.content);
    }
    const output = await execFileAsync(
      join(sandbox.active.binDir, 'pg_waldump'),
      ['--path', dir, '--timeline', String(timeline), '--start', fromLsn, '--rmgr', 'Transaction'],
      { maxBuffer: 256 * 1024 * 1024 },
    ).then(
      ({ stdout }) => stdout,
      // It ends with an error at the end of the partial segment's WAL: what it read stands.
      (error: { stdout?: string }) => error.stdout ?? '',
    );
    const xids = new Set<string>();
    for (const match of output.matchAll(/tx:\s+(\d+),.*desc: COMMIT/g)) xids.add(match[1]!);
    return xids;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The archive's stored bytes of complete segments, per GB of WAL they hold. */
export async function walBytesPerGb(archive: Archive): Promise<{ segments: number; perGb: number }> {
  const stream = await sandboxStream(archive);
  const complete = (await listWal(archive, stream)).filter((object) => !object.history && !object.partial);
  const stored = complete.reduce((sum, object) => sum + object.storedBytes, 0);
  const first = complete[0];
  const segmentSize =
    first === undefined
      ? 16 * 1024 * 1024
      : ((await readWalHeader(archive, stream, first.name))?.segmentSize ?? 0);
  const walBytes = complete.length * segmentSize;
  return { segments: complete.length, perGb: walBytes === 0 ? 0 : (stored / walBytes) * 1e9 };
}
