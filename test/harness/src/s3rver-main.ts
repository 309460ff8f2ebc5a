/**
 * Runs s3rver's command line with two fixes to its filesystem store.
 *
 * - Its DeleteObject removes directories left empty, and a PutObject into the same
 *   directory at that moment fails to open its file: an unhandled stream error that
 *   kills the whole server (seen under the lock tests' contention). Here a delete
 *   removes the object's files only; empty directories hold no keys, so listings are
 *   unchanged.
 * - Its PutObject truncates the object's file and writes it in place (and, given a
 *   buffer, answers before the write ends), so a GetObject of a key being overwritten
 *   reads part of the new body: a lock renewed while listed read as "not JSON". S3
 *   replaces an object whole; here the body is written aside and renamed over it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

interface S3Object {
  readonly bucket: string;
  readonly key: string;
  readonly content: Buffer | NodeJS.ReadableStream;
  readonly metadata: unknown;
}

interface FilesystemStore {
  getResourcePath(bucket: string, key: string, kind: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
  putObject(object: S3Object): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
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

store.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(dirname(objectPath), { recursive: true });
  // Not listed: keys are the files ending in `._S3rver_object`.
  const aside = `${objectPath}.${randomUUID()}.writing`;
  const md5 = createHash('md5');
  let size = 0;
  const body = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
  try {
    await pipeline(
      body,
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          md5.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      }),
      createWriteStream(aside),
    );
    await rename(aside, objectPath);
  } catch (error) {
    await rm(aside, { force: true });
    throw error;
  }
  const digest = md5.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

require('s3rver/bin/s3rver.js');
