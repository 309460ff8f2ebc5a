import { type Archive, fetchWalFile, walStreamName } from '@pullback/archive';
import type { WalSpool } from '../recipe.js';
import type { WalFetch } from './prefetch-wal.js';

/**
 * A fallback's WAL from the archive: the stream `<component>.<systemIdentifier>` of
 * the lineage its data directory holds now (asked each time: a reseed may bring
 * another). Nothing while it holds none.
 */
export function archiveWalFetch(
  archive: Archive,
  component: string,
  spool: () => Promise<WalSpool>,
): WalFetch {
  return async (name, options) => {
    const { systemIdentifier } = await spool();
    if (systemIdentifier === undefined) return undefined;
    const file = await fetchWalFile(archive, walStreamName(component, systemIdentifier), name, options);
    return file === undefined
      ? undefined
      : { content: file.content, segmentSize: file.header.segmentSize, partial: file.header.partial };
  };
}
