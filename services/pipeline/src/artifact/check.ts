import { Transform, type TransformCallback } from 'node:stream';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { PipelineError } from '../domain/errors.js';
import type { ArtifactManifest, ArtifactObject } from './format.js';

export function corruptArtifact(manifest: ArtifactManifest, message: string): PipelineError {
  return new PipelineError(
    'corrupt-artifact',
    `artifact ${manifest.exportId} of ${manifest.component}: ${message}`,
    {
      hint: 'the artifact was altered or truncated in the outbox; run a new export',
    },
  );
}

/** Passes bytes through while taking their size and BLAKE3 digest; fails at the end (or early) on a mismatch. */
export function verifyingStream(
  manifest: ArtifactManifest,
  object: ArtifactObject,
  location: string,
  onBytes: (done: number) => void,
): Transform {
  const hash = new Blake3Hasher();
  let size = 0;
  let lastReport = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      size += chunk.length;
      if (size > object.size) {
        callback(
          corruptArtifact(
            manifest,
            `${object.name} in ${location} is longer than the ${object.size} bytes in COMPLETE`,
          ),
        );
        return;
      }
      hash.update(chunk);
      const now = Date.now();
      if (now - lastReport >= 200) {
        lastReport = now;
        onBytes(size);
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      onBytes(size);
      if (size !== object.size) {
        callback(
          corruptArtifact(
            manifest,
            `${object.name} in ${location} holds ${size} bytes, COMPLETE says ${object.size}`,
          ),
        );
        return;
      }
      if (hash.digestBuffer().toString('hex') !== object.blake3) {
        callback(
          corruptArtifact(
            manifest,
            `${object.name} in ${location} does not match its BLAKE3 digest in COMPLETE`,
          ),
        );
        return;
      }
      callback();
    },
  });
}
