import { mkdir, open, opendir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { destroyOnAbort } from './abort-stream.js';
import type {
  Backend,
  BackendProperties,
  ByteRange,
  ObjectInfo,
  OperationOptions,
  SaveBody,
} from './backend.js';
import { errnoCode, errorKind } from './error-kind.js';
import { NotFoundError, PermanentError } from './errors.js';
import { DurableFileSink } from './file-sink.js';
import { checkName, checkPrefix } from './names.js';
import { checkRange, emptyStream } from './ranges.js';
import { TEMP_DIR, temporaryName } from './temporaries.js';

export interface FsBackendOptions {
  /** How many operations the limit wrapper lets run at once by default. Default: 8. */
  readonly connections?: number;
  /**
   * False: saves are still atomic (a temporary file renamed) but never fsynced, for
   * objects that live only as long as the process that writes them (the one-shot
   * backup's artifact, pulled and removed by the same process). A power cut may then
   * leave a torn object under its name; an artifact's digests refuse it. Default: true.
   */
  readonly durable?: boolean;
}

/**
 * Objects and directories are the owner's alone, whatever the umask (which can only
 * take bits away from these): an archive holds key objects and encrypted data.
 */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/**
 * A directory tree as a backend: the object `a/b` is the file `<root>/a/b`. Saves are
 * atomic and durable (temp file, fsync, rename, fsync of the directory), so a crash
 * leaves either the old object, the new one, or nothing, never half of one.
 */
export class FsBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;
  private readonly root: string;
  private readonly durable: boolean;

  constructor(root: string, options: FsBackendOptions = {}) {
    this.root = resolve(root);
    this.durable = options.durable ?? true;
    this.location = this.root;
    this.properties = { connections: options.connections ?? 8, hasAtomicReplace: true };
  }

  readonly localPath = (name: string): string => this.pathOf(name);

  async save(name: string, body: SaveBody, options: OperationOptions = {}): Promise<void> {
    const { signal } = options;
    // Named by its owner, so that one a killed process left can be told from one in use.
    const temp = join(this.root, TEMP_DIR, temporaryName());
    try {
      const path = this.pathOf(name);
      signal?.throwIfAborted();
      await mkdir(dirname(temp), { recursive: true, mode: DIR_MODE });
      await writeFile(temp, body, signal, this.durable);
      // The last moment an abort can still leave nothing behind.
      signal?.throwIfAborted();
      const created = await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
      await rename(temp, path);
      if (this.durable) await syncDirectories(dirname(path), created);
    } catch (error) {
      // A stream we never got to read must still be released, or its producer hangs.
      if (body instanceof Readable) body.destroy();
      await rm(temp, { force: true });
      // The caller's reason, not the AbortError wrapped around it on the way.
      throw signal?.aborted ? signal.reason : permanentIfHopeless(error, name);
    }
  }

  async load(
    name: string,
    range: ByteRange = { offset: 0 },
    options: OperationOptions = {},
  ): Promise<Readable> {
    const path = this.pathOf(name);
    checkRange(name, range);
    options.signal?.throwIfAborted();
    const handle = await open(path, 'r').catch((error: unknown) => {
      throw readError(error, name);
    });
    let size: number;
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new NotFoundError(name);
      size = info.size;
    } catch (error) {
      await handle.close();
      throw readError(error, name);
    }
    if (range.length === 0 || range.offset >= size) {
      await handle.close();
      return emptyStream();
    }
    // 1 MiB reads: a large object read 64 KiB at a time spends more on the round trips
    // to the thread pool than on the bytes (an artifact's tar: 3.3 -> 2.x s per 1.6 GB).
    const stream = handle.createReadStream({
      start: range.offset,
      ...(range.length === undefined ? {} : { end: range.offset + range.length - 1 }),
      highWaterMark: READ_BUFFER_BYTES,
    });
    return destroyOnAbort(options.signal, stream);
  }

  async stat(name: string, options: OperationOptions = {}): Promise<ObjectInfo> {
    const path = this.pathOf(name);
    options.signal?.throwIfAborted();
    const info = await stat(path).catch((error: unknown) => {
      throw readError(error, name);
    });
    if (!info.isFile()) throw new NotFoundError(name);
    return { name, size: info.size };
  }

  async *list(prefix: string, options: OperationOptions = {}): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    // Only the directory holding the prefix's last segment can contain matches.
    const lastSlash = prefix.lastIndexOf('/');
    yield* this.walk(lastSlash < 0 ? '' : prefix.slice(0, lastSlash), prefix, options.signal);
  }

  async remove(name: string, options: OperationOptions = {}): Promise<void> {
    const path = this.pathOf(name);
    options.signal?.throwIfAborted();
    try {
      await unlink(path);
    } catch (error) {
      // Already gone (or never an object): removal is idempotent.
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return;
      throw permanentIfHopeless(error, name);
    }
  }

  private pathOf(name: string): string {
    checkName(name);
    if (name === TEMP_DIR || name.startsWith(`${TEMP_DIR}/`)) {
      throw new PermanentError(`invalid object name ${JSON.stringify(name)}: ${TEMP_DIR}/ is reserved`);
    }
    return join(this.root, name);
  }

  /**
   * Depth first, one open directory per level, so memory does not grow with the tree;
   * files are stat'ed in batches at once, not one after another (a list of 10 000 packs
   * would otherwise wait on 10 000 round trips to the thread pool).
   */
  private async *walk(dirName: string, prefix: string, signal?: AbortSignal): AsyncGenerator<ObjectInfo> {
    signal?.throwIfAborted();
    const dirPath = dirName === '' ? this.root : join(this.root, dirName);
    const dir = await opendir(dirPath).catch((error: unknown) => {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw permanentIfHopeless(error, dirName);
    });
    if (dir === undefined) return;
    let files: string[] = [];
    const statted = async () => {
      const batch = files;
      files = [];
      // Removed between readdir and stat: it is simply no longer listed.
      const infos = await Promise.all(
        batch.map((name) => stat(join(this.root, name)).catch(() => undefined)),
      );
      return infos.flatMap((info, i) => (info?.isFile() ? [{ name: batch[i]!, size: info.size }] : []));
    };
    for await (const entry of dir) {
      if (dirName === '' && entry.name === TEMP_DIR) continue;
      const name = dirName === '' ? entry.name : `${dirName}/${entry.name}`;
      if (!name.startsWith(prefix) && !prefix.startsWith(`${name}/`)) continue;
      if (entry.isDirectory()) {
        yield* this.walk(name, prefix, signal);
      } else if (entry.isFile()) {
        files.push(name);
        if (files.length === STAT_BATCH) yield* await statted();
      }
    }
    yield* await statted();
  }
}

/** Files of one directory stat'ed at once by `list`. */
const STAT_BATCH = 64;

/** Bytes a load reads at a time. */
const READ_BUFFER_BYTES = 1024 * 1024;

/** Writes a new file and (`durable`) fsyncs it before it is closed, so a rename publishes whole data. */
async function writeFile(
  path: string,
  body: SaveBody,
  signal: AbortSignal | undefined,
  durable: boolean,
): Promise<void> {
  const abort = signal === undefined ? {} : { signal };
  // Open before writing, so the temp file exists by the time an abort or error can
  // reach the caller's cleanup: a lazily opening stream could create it afterwards.
  const handle = await open(path, 'wx', FILE_MODE);
  if (Buffer.isBuffer(body)) {
    try {
      await handle.writeFile(body, abort);
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
  } else {
    const source = typeof body === 'function' ? body() : body;
    try {
      // pipeline settles only after the sink's final fsync.
      await pipeline(source, new DurableFileSink(handle, durable), abort);
    } finally {
      await handle.close();
    }
  }
}

/**
 * A rename is durable only once its directory is synced; directories that `mkdir`
 * just created must be synced in their parents too, up to the first one that existed.
 */
async function syncDirectories(dir: string, firstCreated: string | undefined): Promise<void> {
  const dirs = [dir];
  if (firstCreated !== undefined) {
    for (let current = dir; current !== dirname(firstCreated) && current !== dirname(current); ) {
      current = dirname(current);
      dirs.push(current);
    }
  }
  for (const path of dirs) {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

function errorCode(error: unknown): string | undefined {
  return errnoCode(error);
}

function readError(error: unknown, name: string): unknown {
  const code = errorCode(error);
  if (code === 'ENOENT' || code === 'ENOTDIR') return new NotFoundError(name, { cause: error });
  return permanentIfHopeless(error, name);
}

/** A full disk, a refused permission ... as a PermanentError naming the object (see error-kind.ts). */
function permanentIfHopeless(error: unknown, name: string): unknown {
  if (errorKind(error) === 'permanent' && !(error instanceof PermanentError)) {
    return new PermanentError(`${name}: ${(error as Error).message}`, { cause: error });
  }
  return error;
}
