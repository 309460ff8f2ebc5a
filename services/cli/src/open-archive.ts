import { type Archive, openArchive } from '@pullback/archive';
import type { Backend } from '@pullback/storage';
import { type ArchiveAccess, type ArchiveFlags, resolveArchiveAccess } from './archive-access.js';
import type { CommandContext } from './context.js';
import { openStorage } from './open-storage.js';
import { refuseUnusedConfigKey } from './unused-config-key.js';

/** Finds the archive and key named by the flags (or the config) and opens it. */
export async function openArchiveFromFlags(
  flags: ArchiveFlags,
  context: CommandContext,
): Promise<{ archive: Archive; access: ArchiveAccess }> {
  const access = await resolveArchiveAccess(flags, context.env);
  await refuseUnusedConfigKey(access, flags, context.env);
  const archive = await openArchive(credentialsOf(access, context));
  // Damage a command works around (a damaged snapshot or index object) is said once.
  archive.onWarning = (message) => context.stderr.write(`pullback: warning: ${message}\n`);
  return { archive, access };
}

/** The archive's storage, opened for this command (see open-storage.ts), with its key. */
export function credentialsOf(
  access: ArchiveAccess,
  context: CommandContext,
): {
  archive: Backend;
  keyFile?: string;
  passphrase?: string;
} {
  return {
    archive: openStorage(access.url, context),
    ...(access.keyFile === undefined ? {} : { keyFile: access.keyFile }),
    ...(access.password === undefined ? {} : { passphrase: access.password }),
  };
}
