import { repairIndex as rebuild } from '@pullback/archive';
import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { openArchiveFromFlags } from '../open-archive.js';

/** `pullback repair index`: rebuilds the index from the packs' headers. */
export async function repairIndex(options: ArchiveFlags, context: CommandContext): Promise<void> {
  const { archive } = await openArchiveFromFlags(options, context);
  const result = await rebuild(archive, { signal: context.signal });
  const notes = [
    result.packsMissing.length > 0 && `${result.packsMissing.length} missing packs dropped`,
    result.packsUnreadable.length > 0 &&
      `${result.packsUnreadable.length} packs with unreadable headers left out (${result.packsUnreadable.map((p) => p.slice(0, 16)).join(' ')})`,
  ].filter(Boolean);
  context.stdout.write(
    `index rebuilt from ${result.packs} packs (${result.blobs} blobs), replacing ${result.indexObjectsReplaced} index objects${notes.length > 0 ? `; ${notes.join('; ')}` : ''}\n`,
  );
  for (const object of result.indexObjectsQuarantined) {
    context.stdout.write(`moved damaged ${object.name} to ${object.movedTo}\n`);
  }
}
