/**
 * Runs s3rver's command line with one fix to its filesystem store. Its DeleteObject
 * removes directories left empty, and a PutObject into the same directory at that
 * moment fails to open its file: an unhandled stream error that kills the whole
 * server (seen under the lock tests' contention). Here a delete removes the object's
 * files only; empty directories hold no keys, so listings are unchanged.
 */
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';

interface FilesystemStore {
  getResourcePath(bucket: string, key: string, kind: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
}

const require = createRequire(import.meta.url);
const store = require('s3rver/lib/stores/filesystem.js') as { prototype: FilesystemStore };

store.prototype.deleteObject = async function deleteObject(bucket, key) {
  await Promise.all(
    ['object', 'object.md5', 'metadata.json'].map((kind) =>
      rm(this.getResourcePath(bucket, key, kind), { force: true }),
    ),
  );
};

require('s3rver/bin/s3rver.js');
