import { initArchive } from '@pullback/archive';
import { type ArchiveFlags, resolveArchiveAccess } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { credentialsOf } from '../open-archive.js';

export type ArchiveInitOptions = ArchiveFlags;

/** `pullback archive init`: creates an empty archive and says where its key is. */
export async function archiveInit(options: ArchiveInitOptions, context: CommandContext): Promise<void> {
  const access = await resolveArchiveAccess(options, context.env);
  const { keyFileCreated } = await initArchive(credentialsOf(access, context));
  const key =
    access.keyFile === undefined
      ? 'its key is protected by the passphrase in PULLBACK_PASSWORD'
      : keyFileCreated
        ? `a new key was written to ${access.keyFile}; keep a copy apart from the archive: without it nothing can be restored`
        : `its key is protected by the key in ${access.keyFile}`;
  context.stdout.write(`created archive ${access.url}; ${key}\n`);
}
