import { join } from 'node:path';
import { scratchDir } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { type Archive, initArchive, openArchive } from '../../src/index.js';
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
