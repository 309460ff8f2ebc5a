import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RecipeError } from '../recipe.js';
import { corruptArtifact, verifyingStream } from './check.js';
import { ARTIFACT_FORMAT, type ArtifactManifest, checkExportId, completeName } from './format.js';
import type { Outbox } from './outbox.js';
import type { ArtifactTar } from './tree.js';

/** The artifact's manifest, or undefined while it is not complete. */
export async function readArtifactManifest(
  outbox: Outbox,
  exportId: string,
  signal?: AbortSignal,
): Promise<ArtifactManifest | undefined> {
  checkExportId(exportId);
  const name = completeName(exportId);
  // Listing rather than loading: "not found" is not part of this narrow contract.
  let found = false;
  for await (const info of outbox.list(name, signal ? { signal } : {})) found ||= info.name === name;
  if (!found) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await outbox.load(name, undefined, signal ? { signal } : {})) {
    chunks.push(chunk as Buffer);
  }
  let manifest: ArtifactManifest;
  try {
    manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ArtifactManifest;
  } catch (error) {
    throw new RecipeError(`${name} in ${outbox.location} is not valid JSON`, {
      cause: error,
      permanent: true,
    });
  }
  if (manifest.format !== ARTIFACT_FORMAT || manifest.exportId !== exportId) {
    throw new RecipeError(
      `${name} in ${outbox.location} is not a ${ARTIFACT_FORMAT} manifest of ${exportId}`,
      {
        permanent: true,
      },
    );
  }
  return manifest;
}

/**
 * Every tar of the artifact as a local file, in COMPLETE's order, and a promise that
 * settles once all of them are checked against COMPLETE. A tar in a directory outbox
 * is read where it is (checked alongside whatever reads it next); one elsewhere is
 * downloaded into `staged`, checked on the way.
 */
export async function localTars(
  outbox: Outbox,
  manifest: ArtifactManifest,
  staged: string,
  signal: AbortSignal,
  onBytes?: (bytesDone: number, bytesTotal: number) => void,
): Promise<{ tars: ArtifactTar[]; verified: Promise<void> }> {
  const bytesTotal = manifest.objects.reduce((sum, object) => sum + object.size, 0);
  let bytesBefore = 0;
  const tars: ArtifactTar[] = [];
  const checks: Promise<void>[] = [];
  for (const [index, object] of manifest.objects.entries()) {
    if (!object.name.startsWith(`${manifest.exportId}/`)) {
      throw corruptArtifact(manifest, `object ${object.name} is not under ${manifest.exportId}/`);
    }
    const before = bytesBefore;
    const verifier = verifyingStream(manifest, object, outbox.location, (done) =>
      onBytes?.(before + done, bytesTotal),
    );
    if (outbox.localPath !== undefined) {
      // Missing: the driver's own not-found error, as a download would give.
      await outbox.stat(object.name, { signal });
      const file = outbox.localPath(object.name);
      tars.push({ file, name: object.name, ...(object.root === undefined ? {} : { root: object.root }) });
      const check = pipeline(
        createReadStream(file, { highWaterMark: READ_BYTES }),
        verifier,
        new Writable({ write: (_chunk, _encoding, callback) => callback() }),
        { signal },
      );
      check.catch(() => {});
      checks.push(check);
    } else {
      const file = join(staged, `object-${index}.tar`);
      await pipeline(
        await outbox.load(object.name, undefined, { signal }),
        verifier,
        createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: READ_BYTES }),
        { signal },
      );
      tars.push({ file, name: object.name, ...(object.root === undefined ? {} : { root: object.root }) });
    }
    bytesBefore += object.size;
  }
  return { tars, verified: Promise.all(checks).then(() => {}) };
}

/** Bytes read or written at a time while checking or downloading a tar. */
const READ_BYTES = 4 * 1024 * 1024;
