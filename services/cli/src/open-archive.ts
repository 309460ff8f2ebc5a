import { type Archive, openArchive } from '@pullback/archive';
import { type ArchiveAccess, type ArchiveFlags, resolveArchiveAccess } from './archive-access.js';
import type { CommandContext } from './context.js';

/** Finds the archive and key named by the flags (or the config) and opens it. */
export async function openArchiveFromFlags(
  flags: ArchiveFlags,
  context: CommandContext,
): Promise<{ archive: Archive; access: ArchiveAccess }> {
  const access = await resolveArchiveAccess(flags, context.env);
  const archive = await openArchive(credentialsOf(access));
  // Damage a command works around (a damaged snapshot or index object) is said once.
  archive.onWarning = (message) => context.stderr.write(`pullback: warning: ${message}\n`);
  return { archive, access };
}

export function credentialsOf(access: ArchiveAccess): {
  archive: string;
  keyFile?: string;
  passphrase?: string;
} {
  return {
    archive: access.url,
    ...(access.keyFile === undefined ? {} : { keyFile: access.keyFile }),
    ...(access.password === undefined ? {} : { passphrase: access.password }),
  };
}
