import { describe, expect, it } from 'vitest';
import {
  ARTIFACT_FORMAT,
  type ArtifactManifest,
  describeArtifact,
  describeSnapshot,
  isPipelineError,
  snapshotTags,
} from '../src/index.js';

const id = '0123456789abcdef0123456789abcdef';

const manifest: ArtifactManifest = {
  format: ARTIFACT_FORMAT,
  exportId: 'shop-1',
  component: 'shop',
  recipe: 'postgres',
  kind: 'physical',
  host: 'db1',
  startedAt: '2026-12-01T00:00:00.000Z',
  finishedAt: '2026-12-01T00:01:00.000Z',
  objects: [],
  server: {
    systemIdentifier: '7312345678901234567',
    timeline: 2,
    startLsn: '0/3000028',
    endLsn: '0/3000100',
    serverVersion: 170004,
  },
};

describe('the snapshot description', () => {
  it('is written as tags and read back as it was', () => {
    const description = describeArtifact(manifest, 7);
    const tags = snapshotTags(description);
    expect(tags).toEqual({
      component: 'shop',
      recipe: 'postgres',
      kind: 'physical',
      exportId: 'shop-1',
      epoch: '7',
      systemIdentifier: '7312345678901234567',
      timeline: '2',
      startLsn: '0/3000028',
      endLsn: '0/3000100',
    });
    expect(describeSnapshot({ id, tags })).toEqual(description);
    expect(describeSnapshot({ id, tags: snapshotTags(describeArtifact(manifest)) }).epoch).toBeUndefined();
  });

  it('reads the kinds older archives carry: none and `files` are trees restored in place', () => {
    expect(describeSnapshot({ id, tags: { component: 'docs' } }).kind).toBe('physical');
    expect(describeSnapshot({ id, tags: { component: 'files', recipe: 'files', kind: 'files' } }).kind).toBe(
      'physical',
    );
    expect(describeSnapshot({ id, tags: { kind: 'logical' } }).kind).toBe('logical');
  });

  it('refuses a kind or a number no writer produces, naming the snapshot and the tag', () => {
    const refusal = (tags: Record<string, string>) => {
      try {
        describeSnapshot({ id, tags });
      } catch (error) {
        expect(isPipelineError(error, 'invalid-snapshot')).toBe(true);
        expect((error as { permanent: boolean }).permanent).toBe(true);
        return (error as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refusal({ kind: 'incremental' })).toBe(
      'snapshot 0123456789ab has tag kind="incremental": expected physical or logical',
    );
    // A name every object has is no kind either.
    expect(refusal({ kind: 'constructor' })).toMatch(/tag kind="constructor": expected physical or logical$/);
    expect(refusal({ kind: 'physical', epoch: 'seven' })).toBe(
      'snapshot 0123456789ab has tag epoch="seven": expected a whole number',
    );
  });
});
