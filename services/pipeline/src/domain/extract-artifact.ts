import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, rm, symlink, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { type Extract, extract, type Header } from 'tar-stream';
import type { ArtifactManifest, ArtifactObject, Outbox } from '../recipe.js';
import { PipelineError } from './errors.js';

export interface ExtractArtifactOptions {
  readonly signal?: AbortSignal;
  /** Bytes read from the outbox so far, of `bytesTotal` (the objects' sizes in COMPLETE). */
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export interface ExtractResult {
  readonly members: number;
  readonly bytes: number;
}

/**
 * Extracts an artifact's tar objects, in COMPLETE's order, into `dir` (which must
 * be empty or missing), streaming: nothing is held in memory but the current
 * block. Each object's size and BLAKE3 digest are checked against COMPLETE as it streams;
 * a difference, a member path leaving `dir` (absolute, `..`, through a symlink) or
 * a member type a snapshot cannot hold fails with `corrupt-artifact`, and the
 * caller discards `dir`. Modes and times are kept, and owners when running as root.
 */
export async function extractArtifact(
  outbox: Outbox,
  manifest: ArtifactManifest,
  dir: string,
  options: ExtractArtifactOptions = {},
): Promise<ExtractResult> {
  const { signal } = options;
  const bytesTotal = manifest.objects.reduce((sum, object) => sum + object.size, 0);
  const tree = new StagedTree(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let bytesBefore = 0;
  for (const object of manifest.objects) {
    if (!object.name.startsWith(`${manifest.exportId}/`)) {
      throw corrupt(manifest, `object ${object.name} is not under ${manifest.exportId}/`);
    }
    signal?.throwIfAborted();
    const source = await outbox.load(object.name, undefined, signal === undefined ? {} : { signal });
    const verifier = verifyingStream(manifest, object, outbox.location, (done) =>
      options.onProgress?.(bytesBefore + done, bytesTotal),
    );
    const parser = extract();
    const members = (async () => {
      try {
        for await (const entry of parser) await tree.add(entry.header, entry, manifest);
      } catch (error) {
        parser.destroy(error as Error);
        throw error;
      }
    })();
    try {
      await Promise.all([
        pipeline(source, verifier, parser, signal === undefined ? {} : { signal }),
        members,
      ]);
    } catch (error) {
      // A tar that does not parse is as corrupt as one whose digest differs (which is
      // only known at its end); anything else (I/O, an abort) is what it is.
      if (!signal?.aborted && !(error instanceof PipelineError) && isTarError(error)) {
        throw corrupt(
          manifest,
          `${object.name} in ${outbox.location} is not a valid tar: ${(error as Error).message}`,
        );
      }
      throw error;
    }
    bytesBefore += object.size;
  }
  await tree.finish();
  return { members: tree.members, bytes: bytesBefore };
}

/** tar-stream's own parse errors. */
function isTarError(error: unknown): boolean {
  return (
    error instanceof Error &&
    /invalid (tar )?header|tar header|unexpected end of data|header exceeds max size/i.test(error.message)
  );
}

function corrupt(manifest: ArtifactManifest, message: string): PipelineError {
  return new PipelineError(
    'corrupt-artifact',
    `artifact ${manifest.exportId} of ${manifest.component}: ${message}`,
    {
      hint: 'the artifact was altered or truncated in the outbox; run a new export',
    },
  );
}

/** Passes bytes through while taking their size and BLAKE3 digest; fails at the end (or early) on a mismatch. */
function verifyingStream(
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
          corrupt(
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
          corrupt(
            manifest,
            `${object.name} in ${location} holds ${size} bytes, COMPLETE says ${object.size}`,
          ),
        );
        return;
      }
      if (hash.digestBuffer().toString('hex') !== object.blake3) {
        callback(
          corrupt(manifest, `${object.name} in ${location} does not match its BLAKE3 digest in COMPLETE`),
        );
        return;
      }
      callback();
    },
  });
}

const isRoot = process.getuid?.() === 0;
/** Bytes of a member held before they are written (bounds memory). */
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;

/** One member's body, as tar-stream hands it out. */
type TarEntry = Extract extends AsyncIterable<infer E> ? E : never;

/** The tree being extracted: keeps every member inside the root, and sets directory times last. */
class StagedTree {
  members = 0;
  private readonly symlinks = new Set<string>();
  private readonly directories: { path: string; mtime: Date }[] = [];

  constructor(private readonly root: string) {}

  async add(header: Header, body: TarEntry, manifest: ArtifactManifest): Promise<void> {
    const relative = this.safePath(header.name, manifest);
    if (relative === '') {
      // The tar's own root ("./"): nothing to create.
      body.resume();
      return;
    }
    const path = join(this.root, relative);
    await mkdir(join(path, '..'), { recursive: true });
    switch (header.type) {
      case 'directory': {
        body.resume();
        await mkdir(path, { recursive: true });
        await chmod(path, header.mode & 0o7777);
        this.directories.push({ path, mtime: header.mtime });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        await this.clear(path);
        // Chunks gathered into large writes: one write per 64 KiB chunk halves the rate.
        await pipeline(
          body,
          createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: WRITE_BUFFER_BYTES }),
        );
        await chmod(path, header.mode & 0o7777);
        await utimes(path, header.mtime, header.mtime);
        break;
      }
      case 'symlink': {
        body.resume();
        await this.clear(path);
        await symlink(header.linkname, path);
        this.symlinks.add(relative);
        await lutimes(path, header.mtime, header.mtime);
        break;
      }
      case 'link': {
        body.resume();
        const target = join(this.root, this.safePath(header.linkname, manifest));
        await this.clear(path);
        await link(target, path);
        break;
      }
      default:
        body.resume();
        throw corrupt(manifest, `member ${header.name} is a ${header.type}, which a snapshot cannot hold`);
    }
    if (isRoot) await lchown(path, header.uid, header.gid);
    this.members++;
  }

  /** Directory times last: creating their entries changed them. */
  async finish(): Promise<void> {
    for (const { path, mtime } of this.directories.reverse()) await utimes(path, mtime, mtime);
  }

  /** The member's path relative to the root, or a `corrupt-artifact` error when it would leave it. */
  private safePath(name: string, manifest: ArtifactManifest): string {
    const normal = posix.normalize(name.replace(/\/+$/, ''));
    if (normal === '.' || normal === '') return '';
    if (posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../') || normal.includes('\0')) {
      throw corrupt(manifest, `member ${JSON.stringify(name)} would be written outside the snapshot's tree`);
    }
    // A member under a symlink extracted before it would be written wherever the link points.
    for (let parent = posix.dirname(normal); parent !== '.'; parent = posix.dirname(parent)) {
      if (this.symlinks.has(parent)) {
        throw corrupt(manifest, `member ${JSON.stringify(name)} lies under the symlink ${parent}`);
      }
    }
    return normal;
  }

  /** Removes a previous member at `path` (tar lets a later member replace an earlier one), never a directory. */
  private async clear(path: string): Promise<void> {
    const existing = await lstat(path).catch(() => undefined);
    if (existing === undefined) return;
    if (existing.isDirectory()) throw new Error(`cannot replace directory ${path} with a file`);
    await rm(path);
    this.symlinks.delete(path.slice(this.root.length + 1));
  }
}
