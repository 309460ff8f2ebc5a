import type { ArtifactManifest } from '../artifact/format.js';

/** A page whose data checksum was wrong when the export read it. */
export interface CorruptPage {
  /** Relative to the data directory. */
  readonly file: string;
  /** The block number in its relation. */
  readonly block: number;
}

/** The corrupt pages an export's manifest reports (`details.corruptPages`); none when it reports none. */
export function corruptPagesOf(manifest: ArtifactManifest): CorruptPage[] {
  const listed = manifest.details?.corruptPages;
  if (!Array.isArray(listed)) return [];
  return listed.filter(
    (page): page is CorruptPage => typeof page?.file === 'string' && Number.isInteger(page?.block),
  );
}
