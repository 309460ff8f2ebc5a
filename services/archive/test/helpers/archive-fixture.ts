import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import {
  type Archive,
  initArchive,
  openArchive,
  type SourceEntry,
  type SourceStats,
} from '../../src/index.js';
import type { ArchiveConfigOptions } from '../../src/repository/config.js';

/** A scratch directory holding an fs archive, its key file, and room for trees. */
export interface Workspace {
  readonly dir: string;
  readonly archiveDir: string;
  readonly keyFile: string;
  readonly backend: Backend;
  archive: Archive;
  path(...parts: string[]): string;
  reopen(): Promise<Archive>;
  remove(): Promise<void>;
}

export async function newWorkspace(
  label: string,
  backend?: Backend,
  config: ArchiveConfigOptions = {},
): Promise<Workspace> {
  const scratch = await scratchDir(label);
  const archiveDir = join(scratch.path, 'archive');
  const keyFile = join(scratch.path, 'archive.key');
  const store = backend ?? openBackend(archiveDir);
  const { archive } = await initArchive({
    archive: store,
    keyFile,
    packSize: 8 * 1024 * 1024,
    ...config,
  });
  const workspace: Workspace = {
    dir: scratch.path,
    archiveDir,
    keyFile,
    backend: store,
    archive,
    path: (...parts) => join(scratch.path, ...parts),
    reopen: async () => {
      workspace.archive = await openArchive({ archive: store, keyFile });
      return workspace.archive;
    },
    remove: () => scratch.remove(),
  };
  return workspace;
}

/** Every object name in a backend, sorted (to show that nothing was written). */
export async function objectNames(backend: Backend): Promise<string[]> {
  const names: string[] = [];
  for await (const info of backend.list('')) names.push(info.name);
  return names.sort();
}

/**
 * A file's status for a `source` entry, with fixed times (1 ns apart, so a parent's
 * entry with the same ones is taken as unchanged) and this process's owner.
 */
export function fileStats(size: number): SourceStats {
  return {
    isDirectory: () => false,
    isFile: () => true,
    isSymbolicLink: () => false,
    mode: 0o100600n,
    uid: BigInt(process.getuid?.() ?? 0),
    gid: BigInt(process.getgid?.() ?? 0),
    mtimeNs: 1_700_000_000_000_000_000n,
    ctimeNs: 1_700_000_000_000_000_001n,
    size: BigInt(size),
  };
}

/** A directory's status, with nothing on disk behind it (directories are never read). */
export function dirStats(): SourceStats {
  return {
    ...fileStats(0),
    isDirectory: () => true,
    isFile: () => false,
    mode: 0o40755n,
    ctimeNs: 1_700_000_000_000_000_000n,
  };
}

/** An entry as it stands on disk under `root`, for a `source` or `late` list. */
export async function onDisk(root: string, path: string): Promise<SourceEntry> {
  const absolute = path === '' ? root : join(root, path);
  return { path, absolute, stats: await lstat(absolute, { bigint: true }) };
}
