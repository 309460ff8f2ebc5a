import { hostname } from 'node:os';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { type ExportInput, type ExportProgress, RecipeError } from '../recipe.js';
import { ARTIFACT_FORMAT, type ArtifactManifest, type ArtifactObject, completeName } from './format.js';
import type { Outbox } from './outbox.js';
import { readArtifactManifest } from './reader.js';
import { removeArtifact } from './remove.js';

/** Called once a streamed object's bytes have all been produced, before it is saved. */
export type SourceCheck = () => Promise<void>;

/**
 * Writes one artifact: data objects streamed into the outbox while their size and
 * BLAKE3 digests are taken, then COMPLETE. The one implementation of the commit protocol,
 * shared by every recipe so that they cannot disagree on it.
 */
/** What the exporter says in COMPLETE; the writer adds the rest. */
export type ManifestFields = Pick<
  ArtifactManifest,
  'component' | 'recipe' | 'kind' | 'server' | 'tablespaces' | 'details'
>;

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
   * a bad object is never stored under its name. `root`: the tree path its members
   * go under (see `ArtifactObject.root`).
   */
  async saveStream(
    relative: string,
    source: Readable,
    options: { transforms?: readonly Transform[]; check?: SourceCheck; root?: string } = {},
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
    const object: ArtifactObject = {
      name,
      size,
      blake3: hash.digestBuffer().toString('hex'),
      ...(options.root === undefined ? {} : { root: options.root }),
    };
    this.objects.push(object);
    return object;
  }

  /** Writes COMPLETE, the commit point, and returns the manifest. */
  async commit(fields: ManifestFields): Promise<ArtifactManifest> {
    const manifest = this.describe(fields);
    this.signal?.throwIfAborted();
    await this.outbox.save(
      completeName(this.exportId),
      Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
      this.signal ? { signal: this.signal } : {},
    );
    return manifest;
  }

  /** The manifest of the objects saved so far, as COMPLETE would hold it (nothing is written). */
  describe(fields: ManifestFields): ArtifactManifest {
    return {
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
      ...(fields.tablespaces === undefined ? {} : { tablespaces: fields.tablespaces }),
      ...(fields.details === undefined ? {} : { details: fields.details }),
    };
  }

  /** Removes every object under `<exportId>/` (`removeArtifact`); run even when the export was aborted. */
  async discard(): Promise<void> {
    await removeArtifact(this.outbox, this.exportId);
  }

  /**
   * After a failed write: discards what was written (even when the export was aborted:
   * a partial artifact never stays), then throws the abort's reason if it was aborted.
   * Returns what the failure's message adds when the removal failed too, else ''.
   */
  async discardAfterFailure(): Promise<string> {
    const cleanup = await this.discard().then(
      () => '',
      (cleanupError: unknown) =>
        ` (and its partial objects could not be removed from ${this.outbox.location}: ${(cleanupError as Error).message})`,
    );
    this.signal?.throwIfAborted();
    return cleanup;
  }
}
