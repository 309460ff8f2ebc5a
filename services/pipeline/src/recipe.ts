import { hostname } from 'node:os';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Blake3Hasher } from '@napi-rs/blake-hash';

/*
 * The recipe contract: what the export, pull-backup and import workers may ask of a
 * recipe (`recipes/postgres`, `recipes/files`), and the artifact a recipe leaves in
 * the outbox for pull-backup. Recipes are the only code that knows a component's
 * tools; workers only know this file.
 *
 * The artifact of export `<id>` is every object under `<id>/` in the outbox:
 *
 *   <id>/<data object>...   one or more tar streams; their members are the snapshot's
 *                           files, relative paths, in one tree shared by all objects
 *   <id>/COMPLETE           ArtifactManifest as JSON, written last: the commit point
 *
 * Nothing under `<id>/` means anything until COMPLETE exists, and COMPLETE lists the
 * name, size and BLAKE3 digest of every data object, so pull-backup can refuse an artifact
 * that was truncated or altered in the outbox. A failed export removes what it wrote.
 */

/**
 * - `physical`: a tree of files restored in place (a data directory, a directory tree).
 * - `logical`: dumps, restored by replaying them into a server (for audits).
 */
export type ArtifactKind = 'physical' | 'logical';

/** Where an instance is. `InstanceConfig` from the config fits as is. */
export interface InstanceLocation {
  readonly name?: string;
  readonly host: string;
  readonly port: number;
  /** The data directory on the instance's host. */
  readonly dataDir: string;
}

/** What a long export reports as it goes; `bytesTotal` is an estimate when known. */
export interface ExportProgress {
  /** Bytes written to the outbox so far, all objects together. */
  readonly bytesDone: number;
  readonly bytesTotal?: number;
  /** The object being written. */
  readonly object: string;
}

/**
 * The part of a storage `Backend` (@pullback/storage) an export uses. Named here so
 * the contract needs no storage dependency; any `Backend` is an `Outbox`.
 */
export interface Outbox {
  readonly location: string;
  save(name: string, body: Buffer | Readable, options?: { signal?: AbortSignal }): Promise<void>;
  stat(name: string, options?: { signal?: AbortSignal }): Promise<{ readonly size: number }>;
  load(name: string, range?: undefined, options?: { signal?: AbortSignal }): Promise<Readable>;
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<{ readonly name: string }>;
  remove(name: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Where an object is on this machine, for outboxes that are directories (read in place). */
  readonly localPath?: (name: string) => string;
}

export interface ExportInput {
  /** The component's name, recorded in the artifact. */
  readonly component: string;
  /** The instance to export (postgres: the active). */
  readonly instance?: InstanceLocation;
  /** The directory tree to export (files). */
  readonly path?: string;
  readonly outbox: Outbox;
  /** Names the artifact: `[A-Za-z0-9][A-Za-z0-9._-]*`, unique per export. */
  readonly exportId: string;
  /** Default: the recipe's first kind. */
  readonly kind?: ArtifactKind;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ExportProgress) => void;
  /** Told of each entry left out of the artifact or snapshot (the path and why). Default: ignore. */
  readonly onWarning?: (message: string) => void;
}

/** One data object of an artifact. */
export interface ArtifactObject {
  /** The full object name in the outbox, `<exportId>/...`. */
  readonly name: string;
  readonly size: number;
  /**
   * BLAKE3 (unkeyed, 32 bytes) of the object's bytes, hex. BLAKE3 rather than SHA-256
   * because the export hashes on the thread that moves the bytes: at ~1.2 GB/s SHA-256
   * held a 1.6 GB base backup back by about 1.5 s; BLAKE3 takes a third of that.
   */
  readonly blake3: string;
}

/** Where a database artifact sits in the server's history. */
export interface ServerPosition {
  /** pg_control's system identifier, a 64-bit integer as a decimal string. */
  readonly systemIdentifier: string;
  readonly timeline: number;
  /** The WAL the artifact needs, as PostgreSQL prints LSNs (`0/3000028`). */
  readonly startLsn: string;
  readonly endLsn: string;
  /** `server_version_num`, e.g. 150018. */
  readonly serverVersion: number;
}

/** The `<exportId>/COMPLETE` object. */
export interface ArtifactManifest {
  readonly format: typeof ARTIFACT_FORMAT;
  readonly exportId: string;
  readonly component: string;
  readonly recipe: string;
  readonly kind: ArtifactKind;
  /** The host that ran the export. */
  readonly host: string;
  /** ISO 8601 times. */
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Every data object, in the order it was written. */
  readonly objects: readonly ArtifactObject[];
  /** Database recipes: the server's identity and the WAL range of the artifact. */
  readonly server?: ServerPosition;
  /** Recipe-specific facts, e.g. the databases of a logical export. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** What the import worker hands a recipe about the fallback it is restoring. */
export interface RestoreTarget {
  readonly component: string;
  readonly instance: InstanceLocation;
  /** The artifact the snapshot came from, when known. */
  readonly manifest?: ArtifactManifest;
  /** The active to follow while it can be reached (postgres: primary_conninfo). */
  readonly upstream?: { readonly host: string; readonly port: number; readonly user?: string };
  /** A shell command fetching archived WAL (postgres: restore_command, `%f` `%p`). */
  readonly restoreCommand?: string;
  readonly signal?: AbortSignal;
}

/** Where a running instance is, for the registry and the election. */
export interface InstancePosition {
  readonly running: boolean;
  /** True while it is a read-only standby. */
  readonly inRecovery?: boolean;
  /** The last replayed LSN (standby) or current WAL LSN (active). */
  readonly lsn?: string;
  /** When the last replayed transaction committed on the active, ISO 8601. */
  readonly replayedAt?: string;
}

/**
 * A recipe. `export` is required; the import hooks are optional because restoring
 * the snapshot's files may be all an import needs (files).
 */
export interface Recipe {
  readonly name: string;
  /** The kinds it exports, the default first. */
  readonly kinds: readonly ArtifactKind[];
  /** The kinds an import restores onto a fallback (the others are for audits). */
  readonly importKinds: readonly ArtifactKind[];

  /**
   * Writes an artifact under `<exportId>/` and returns its manifest, COMPLETE written
   * last. Idempotent per export id: a complete artifact is returned as it is, and the
   * leftovers of an attempt that did not complete are removed first. On failure it
   * removes what it wrote and rejects with one clear line.
   */
  export(input: ExportInput): Promise<ArtifactManifest>;

  /** Before the archive rewrites the target: make that safe (stop a running fallback). */
  beforeRestore?(target: RestoreTarget): Promise<void>;

  /** After the archive restored a snapshot into the target: bring it into service and check it. */
  afterRestore?(target: RestoreTarget): Promise<InstancePosition>;

  /** Where the instance is now. */
  position?(instance: InstanceLocation, options?: { signal?: AbortSignal }): Promise<InstancePosition>;
}

/**
 * A failure a recipe explains: one lowercase line naming the object, and a hint the
 * user can act on. `permanent` failures will not pass by retrying the same job.
 */
export class RecipeError extends Error {
  override readonly name = 'RecipeError';
  readonly hint: string | undefined;
  readonly permanent: boolean;
  constructor(message: string, options: { hint?: string; permanent?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.hint = options.hint;
    this.permanent = options.permanent ?? false;
  }
}

export const ARTIFACT_FORMAT = 'pullback-artifact/1';
export const COMPLETE_OBJECT = 'COMPLETE';
const EXPORT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The name of export `exportId`'s commit object. */
export function completeName(exportId: string): string {
  return `${exportId}/${COMPLETE_OBJECT}`;
}

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

export function checkExportId(exportId: string): void {
  if (!EXPORT_ID.test(exportId)) {
    throw new RecipeError(
      `invalid export id ${JSON.stringify(exportId)}: use letters, digits, ".", "_" and "-"`,
      {
        permanent: true,
      },
    );
  }
}

/** Called once a streamed object's bytes have all been produced, before it is saved. */
export type SourceCheck = () => Promise<void>;

/**
 * Writes one artifact: data objects streamed into the outbox while their size and
 * BLAKE3 digests are taken, then COMPLETE. The one implementation of the commit protocol,
 * shared by every recipe so that they cannot disagree on it.
 */
export class ArtifactWriter {
  private readonly objects: ArtifactObject[] = [];
  private bytesDone = 0;
  private readonly startedAt = new Date();
  bytesTotal: number | undefined;

  private constructor(
    readonly outbox: Outbox,
    readonly exportId: string,
    private readonly signal: AbortSignal | undefined,
    private readonly onProgress: ((progress: ExportProgress) => void) | undefined,
  ) {}

  /**
   * Starts export `input.exportId`: returns its manifest instead when it is already
   * complete, and removes the leftovers of an earlier attempt otherwise.
   */
  static async begin(input: ExportInput): Promise<ArtifactWriter | ArtifactManifest> {
    const existing = await readArtifactManifest(input.outbox, input.exportId, input.signal);
    if (existing !== undefined) return existing;
    const writer = new ArtifactWriter(input.outbox, input.exportId, input.signal, input.onProgress);
    await writer.discard();
    return writer;
  }

  /**
   * Streams `source` (through `transforms`) into `<exportId>/<relative>`, never holding
   * it in memory. `check` runs once the source has ended and before the object is
   * saved: a failing check (a tool's exit status, a truncated tar) fails the save, so
   * a bad object is never stored under its name.
   */
  async saveStream(
    relative: string,
    source: Readable,
    options: { transforms?: readonly Transform[]; check?: SourceCheck } = {},
  ): Promise<ArtifactObject> {
    const name = `${this.exportId}/${relative}`;
    const hash = new Blake3Hasher();
    let size = 0;
    const report = () =>
      this.onProgress?.({
        bytesDone: this.bytesDone,
        object: name,
        ...(this.bytesTotal === undefined ? {} : { bytesTotal: this.bytesTotal }),
      });
    let lastReport = 0;
    const observer = new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        hash.update(chunk);
        size += chunk.length;
        this.bytesDone += chunk.length;
        const now = Date.now();
        if (now - lastReport >= 200) {
          lastReport = now;
          report();
        }
        callback(null, chunk);
      },
      flush: (callback: TransformCallback) => {
        (options.check ?? (async () => {}))().then(
          () => callback(),
          (error: unknown) => callback(error as Error),
        );
      },
    });
    const opts = this.signal ? { signal: this.signal } : {};
    const feeding = pipeline([source, ...(options.transforms ?? []), observer], opts);
    const saving = this.outbox.save(name, observer, opts).catch((error: unknown) => {
      // A driver that gives up on the body must still release it, or the source blocks.
      observer.destroy(error as Error);
      throw error;
    });
    const [fed, saved] = await Promise.allSettled([feeding, saving]);
    if (fed.status === 'rejected') {
      // "Premature close" only says the save gave up first; its own error says why.
      const premature = (fed.reason as NodeJS.ErrnoException)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
      throw premature && saved.status === 'rejected' ? saved.reason : fed.reason;
    }
    if (saved.status === 'rejected') throw saved.reason;
    const stored = await this.outbox.stat(name, opts);
    if (stored.size !== size) {
      throw new RecipeError(
        `${name} in ${this.outbox.location} holds ${stored.size} bytes, ${size} were written`,
      );
    }
    report();
    const object = { name, size, blake3: hash.digestBuffer().toString('hex') };
    this.objects.push(object);
    return object;
  }

  /** Writes COMPLETE, the commit point, and returns the manifest. */
  async commit(
    fields: Pick<ArtifactManifest, 'component' | 'recipe' | 'kind' | 'server' | 'details'>,
  ): Promise<ArtifactManifest> {
    const manifest: ArtifactManifest = {
      format: ARTIFACT_FORMAT,
      exportId: this.exportId,
      component: fields.component,
      recipe: fields.recipe,
      kind: fields.kind,
      host: hostname(),
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      objects: [...this.objects],
      ...(fields.server === undefined ? {} : { server: fields.server }),
      ...(fields.details === undefined ? {} : { details: fields.details }),
    };
    this.signal?.throwIfAborted();
    await this.outbox.save(
      completeName(this.exportId),
      Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
      this.signal ? { signal: this.signal } : {},
    );
    return manifest;
  }

  /** Removes every object under `<exportId>/`; run even when the export was aborted. */
  async discard(): Promise<void> {
    const names: string[] = [];
    for await (const info of this.outbox.list(`${this.exportId}/`)) names.push(info.name);
    // COMPLETE first: from the first removal on, the artifact must not look complete.
    names.sort(
      (a, b) => Number(b === completeName(this.exportId)) - Number(a === completeName(this.exportId)),
    );
    for (const name of names) await this.outbox.remove(name);
  }
}
