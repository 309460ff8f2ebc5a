import { createReadStream } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ArtifactWriter, type ExportInput, RecipeError, tablespaceRoot } from '@pullback/pipeline/core';
import { pack } from 'tar-stream';
import { conninfo, describeEndpoint } from './connection.js';
import { spawnDataTool } from './data-tool.js';
import type { ExportSource, PostgresRecipeOptions } from './run-export.js';
import { TarCheck } from './tar-check.js';
import { pgTool } from './tools.js';

/** What the tablespace path hands back to `exportPhysical`. */
export interface StagedBackup {
  /** The end of backup_manifest, for its WAL ranges. */
  readonly manifestTail: Buffer;
  /** OID to location, for COMPLETE. */
  readonly tablespaces: Readonly<Record<string, string>>;
  readonly tarMembers: number;
}

const MANIFEST_TAIL = 64 * 1024;
/** How often the staging directory is looked at for finished tablespace tars. */
const POLL_MS = 200;
const TABLESPACE_TAR = /^\d+\.tar$/;

/**
 * The tablespace tars pg_basebackup has finished: it writes one tar at a time and
 * closes each before it creates the next, so a tar is finished once another one was
 * written after it (a later mtime). The one being written has the latest; base.tar
 * comes last, and is finished only when pg_basebackup exits.
 */
export async function finishedTablespaceTars(staging: string): Promise<string[]> {
  const tars: { name: string; mtimeNs: bigint }[] = [];
  for (const name of await readdir(staging)) {
    if (!TABLESPACE_TAR.test(name) && name !== 'base.tar') continue;
    const stats = await stat(join(staging, name), { bigint: true }).catch(() => undefined);
    if (stats !== undefined) tars.push({ name, mtimeNs: stats.mtimeNs });
  }
  const latest = tars.reduce((max, tar) => (tar.mtimeNs > max ? tar.mtimeNs : max), -1n);
  return tars
    .filter((tar) => TABLESPACE_TAR.test(tar.name) && tar.mtimeNs < latest)
    .sort((a, b) => (a.mtimeNs < b.mtimeNs ? -1 : 1))
    .map((tar) => tar.name);
}

/**
 * A base backup of a server with tablespaces. `pg_basebackup` writes one tar per
 * tablespace only into a directory (to stdout it takes the data directory alone), so
 * it runs in tar format into a staging directory (`options.stagingDir`, room for one
 * backup), and each tar is streamed into the artifact and deleted once finished
 * (tablespaces while pg_basebackup goes on, base.tar when it is done): `<oid>.tar`
 * with root `pg_tblspc/<oid>`, `base.tar`, and the separate backup_manifest as
 * `backup_manifest.tar`. A tablespace created while it ran fails the export (its
 * location is not known); the next one has it.
 */
export async function exportWithTablespaces(
  input: ExportInput,
  options: PostgresRecipeOptions,
  writer: ArtifactWriter,
  { endpoint, facts }: ExportSource,
): Promise<StagedBackup> {
  const staging = await mkdtemp(join(options.stagingDir ?? tmpdir(), `pullback-${input.exportId}-`));
  try {
    const tool = spawnDataTool(
      `pg_basebackup from ${describeEndpoint(endpoint)}`,
      await pgTool('pg_basebackup', options.binDir),
      [
        '--dbname',
        conninfo(endpoint),
        '--no-password',
        `--pgdata=${staging}`,
        '--format=tar',
        '--wal-method=fetch',
        '--manifest-checksums=CRC32C',
        '--checkpoint=fast',
        '--no-sync',
        `--label=pullback ${input.exportId}`,
      ],
      input.signal === undefined ? {} : { signal: input.signal },
    );
    tool.stdout.resume();
    const tablespaces: Record<string, string> = {};
    let tarMembers = 0;
    const saveTar = async (name: string, root: string | undefined, required: readonly string[]) => {
      const check = new TarCheck({ required });
      const file = join(staging, name);
      await writer.saveStream(name, createReadStream(file), {
        transforms: [check],
        ...(root === undefined ? {} : { root }),
      });
      tarMembers += check.members;
      await rm(file);
    };
    const saveTablespace = async (name: string) => {
      const oid = name.slice(0, -'.tar'.length);
      const location = facts.tablespaceLocations[oid];
      if (location === undefined) {
        throw new RecipeError(
          `tablespace ${oid} was created while the export ran; its location is not known`,
          { hint: 'the next export carries it' },
        );
      }
      await saveTar(name, tablespaceRoot(oid), []);
      tablespaces[oid] = location;
    };
    // Tablespace tars go into the outbox while pg_basebackup writes the next ones.
    const exited = tool.exited();
    let running = true;
    const ended = exited.then(
      () => {},
      () => {},
    );
    void ended.then(() => {
      running = false;
    });
    const saving = (async () => {
      while (running) {
        await Promise.race([ended, sleep(POLL_MS)]);
        if (!running) return;
        for (const name of await finishedTablespaceTars(staging)) await saveTablespace(name);
      }
    })();
    // A failed save stops pg_basebackup; its own failure is then only the kill.
    saving.catch(() => tool.kill());
    const [backup, saved] = await Promise.allSettled([exited, saving]);
    if (saved.status === 'rejected') throw saved.reason;
    if (backup.status === 'rejected') throw backup.reason;
    const names = new Set(await readdir(staging));
    if (!names.has('base.tar') || !names.has('backup_manifest')) {
      throw new RecipeError(`pg_basebackup left no base.tar or backup_manifest in ${staging}`);
    }
    for (const name of [...names].filter((name) => TABLESPACE_TAR.test(name)).sort()) {
      await saveTablespace(name);
    }
    await saveTar('base.tar', undefined, ['PG_VERSION', 'global/pg_control', 'backup_label']);
    const manifest = join(staging, 'backup_manifest');
    const manifestTail = await tailOf(manifest, MANIFEST_TAIL);
    await writer.saveStream('backup_manifest.tar', await tarOfFile(manifest, 'backup_manifest'), {
      transforms: [new TarCheck({ required: ['backup_manifest'] })],
    });
    return { manifestTail, tablespaces, tarMembers: tarMembers + 1 };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The last `bytes` of `file`. */
async function tailOf(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer;
  } finally {
    await handle.close();
  }
}

/** A tar of one member `name` holding `file`'s bytes, streamed. */
async function tarOfFile(file: string, name: string): Promise<Readable> {
  const { size, mtime } = await stat(file);
  const archive = pack();
  const entry = archive.entry({ name, size, mode: 0o600, mtime, type: 'file' });
  pipeline(createReadStream(file), entry).then(
    () => archive.finalize(),
    (error: unknown) => archive.destroy(error as Error),
  );
  return Readable.from(archive, { objectMode: false });
}
