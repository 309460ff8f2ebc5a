import { randomBytes } from 'node:crypto';
import { type Backend, isNotFound } from '@pullback/storage';
import type { BlobLocation } from '../blob-index/blob-location.js';
import { decodeIndex, type IndexObject } from '../blob-index/index-file.js';
import { findLiveBlobs } from '../blob-index/live-locations.js';
import { KeyedHash, plainHash } from '../crypto/hash.js';
import {
  type ArchiveKeys,
  type Credential,
  deriveKeys,
  MASTER_KEY_BYTES,
  parseKeyObject,
  unwrapMasterKey,
  wrapMasterKey,
} from '../crypto/keys.js';
import { seal, unseal } from '../crypto/seal.js';
import { ArchiveError, CorruptDataError } from '../errors.js';
import { openBlob } from '../pack/blob-codec.js';
import { packName } from '../pack/pack-writer.js';
import { type ArchiveConfig, type ArchiveConfigOptions, FORMAT_VERSION, newConfig } from './config.js';
import { readAll } from './stream-bytes.js';

const CONFIG_AAD = Buffer.from('pullback config');

/**
 * An open archive: the backend, the unlocked keys and the config. Everything here
 * reads or writes whole objects; the data paths (backup, restore) live elsewhere and
 * use this for the metadata they need.
 */
export class Archive {
  readonly hash: KeyedHash;

  private constructor(
    readonly backend: Backend,
    readonly keys: ArchiveKeys,
    readonly config: ArchiveConfig,
  ) {
    this.hash = new KeyedHash(keys.id);
  }

  get location(): string {
    return this.backend.location;
  }

  /** Creates an archive: a new master key, its key object, then `config` last. */
  static async init(
    backend: Backend,
    credential: Credential,
    options: ArchiveConfigOptions = {},
  ): Promise<Archive> {
    if (await exists(backend, 'config')) {
      throw new ArchiveError('already-an-archive', `an archive already exists at ${backend.location}`, {
        hint: 'use it as it is, or create a new one in an empty directory or prefix',
      });
    }
    for await (const _ of backend.list('')) {
      throw new ArchiveError('already-an-archive', `not empty: ${backend.location}`, {
        hint: 'create an archive in an empty directory or prefix',
      });
    }
    const master = randomBytes(MASTER_KEY_BYTES);
    const keyObject = await wrapMasterKey(master, credential);
    const keyBody = Buffer.from(`${JSON.stringify(keyObject, null, 2)}\n`);
    await backend.save(`keys/${plainHash(keyBody).toString('hex')}`, keyBody);
    const keys = deriveKeys(master);
    const config = newConfig(randomBytes(32).toString('hex'), options);
    // The config is the archive's "exists" marker, so it is written after its key.
    await backend.save('config', seal(keys.encryption, Buffer.from(JSON.stringify(config)), CONFIG_AAD));
    return new Archive(backend, keys, config);
  }

  /** Opens an archive: finds a key object the credential unlocks, then reads `config`. */
  static async open(backend: Backend, credential: Credential): Promise<Archive> {
    let sealedConfig: Buffer;
    try {
      sealedConfig = await readAll(await backend.load('config'));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      throw new ArchiveError('not-an-archive', `not a pullback archive: ${backend.location}`, {
        cause: error,
        hint: 'create one with `pullback archive init`, or check the archive URL',
      });
    }
    let master: Buffer | undefined;
    for await (const info of backend.list('keys/')) {
      const keyObject = parseKeyObject((await readAll(await backend.load(info.name))).toString('utf8'));
      if (keyObject === undefined) continue;
      master = await unwrapMasterKey(keyObject, credential);
      if (master !== undefined) break;
    }
    const what = 'passphrase' in credential ? 'passphrase' : 'key file';
    if (master === undefined) {
      throw new ArchiveError('wrong-key', `wrong ${what} for archive ${backend.location}`, {
        hint: 'check --key-file, PULLBACK_KEY_FILE, PULLBACK_PASSWORD and archive.keyFile in the config (taken in that order)',
      });
    }
    const keys = deriveKeys(master);
    const plain = unseal(keys.encryption, sealedConfig, CONFIG_AAD);
    if (plain === undefined) {
      // The key object opened, so the key is one of this archive's keys, or of another
      // archive whose key object was copied here.
      throw new CorruptDataError(`config of archive ${backend.location} fails authentication`, {
        hint: "a wrong key (another archive's) or a damaged config object: check the key, then restore `config` from a copy of the archive",
      });
    }
    const config = JSON.parse(plain.toString('utf8')) as ArchiveConfig;
    if (config.version !== FORMAT_VERSION) {
      throw new ArchiveError(
        'unsupported-version',
        `archive ${backend.location} has format version ${config.version}, this pullback reads ${FORMAT_VERSION}`,
        config.version > FORMAT_VERSION
          ? { hint: 'a newer pullback wrote it: upgrade pullback to open it' }
          : {},
      );
    }
    return new Archive(backend, keys, config);
  }

  /** Seals a JSON value for an object kind (`aad` names the kind). */
  sealJson(value: unknown, aad: Buffer): Buffer {
    return seal(this.keys.encryption, Buffer.from(JSON.stringify(value)), aad);
  }

  openJson<T>(sealed: Buffer, aad: Buffer, what: string): T {
    const plain = unseal(this.keys.encryption, sealed, aad);
    if (plain === undefined) throw new CorruptDataError(`${what} fails authentication`);
    return JSON.parse(plain.toString('utf8')) as T;
  }

  async loadObject(name: string, signal?: AbortSignal): Promise<Buffer> {
    return readAll(await this.backend.load(name, undefined, signal ? { signal } : {}));
  }

  /**
   * Told of damage that a command works around rather than fails on: an index object
   * or a snapshot manifest that does not open. Each object is told once. Default: ignore.
   */
  onWarning: ((message: string) => void) | undefined;
  private readonly warned = new Set<string>();

  /** Keeps `warn` quiet about `about`, for a caller that reports it otherwise (verify). */
  reported(about: string): void {
    this.warned.add(about);
  }

  /** Tells `onWarning` of `message`, once per `about` (an object name). */
  warn(about: string, message: string): void {
    if (this.warned.has(about)) return;
    this.warned.add(about);
    this.onWarning?.(message);
  }

  /**
   * Every index object's name and decoded content, skipping superseded ones, and the
   * names of those that do not open (damaged): a damaged index object only costs the
   * blobs it alone lists (see `repairIndex`), so readers go on without it.
   */
  async readIndexes(signal?: AbortSignal): Promise<{
    live: (IndexObject & { name: string })[];
    damaged: string[];
  }> {
    const ahead = this.readAhead;
    this.readAhead = undefined;
    const early = await ahead?.catch(() => undefined);
    const names = await this.indexNames(signal);
    const superseded = new Set<string>();
    const files: { name: string; index: IndexObject }[] = [];
    const damaged: string[] = [];
    const loaded = await this.loadIndexObjects(names, signal, early);
    for (const [at, name] of names.entries()) {
      const sealed = loaded[at];
      if (sealed === undefined) continue;
      const index = decodeIndex(this.keys.encryption, sealed);
      if (index === undefined) {
        damaged.push(name);
        continue;
      }
      for (const id of index.supersedes) superseded.add(`index/${id}`);
      files.push({ index, name });
    }
    return {
      live: files
        .filter(({ name }) => !superseded.has(name))
        .map(({ index, name }) => Object.assign(index, { name })),
      // A damaged object a newer index supersedes is only waiting for removal.
      damaged: damaged.filter((name) => !superseded.has(name)),
    };
  }

  /**
   * Starts reading every index object now, for the next `readIndexes` to take:
   * `pullback backup <component>` reads them while the export runs. An index object is
   * named by the hash of its bytes, so one read ahead is the one a later read would
   * get; `readIndexes` still lists the names again, reads only the new ones and leaves
   * out those gone since (a prune's).
   */
  prefetchIndexes(signal?: AbortSignal): void {
    const reading = this.indexNames(signal).then(async (names) => {
      const loaded = await this.loadIndexObjects(names, signal);
      return new Map(names.map((name, at) => [name, loaded[at]]));
    });
    // A read ahead that failed only means reading again.
    reading.catch(() => {});
    this.readAhead = reading;
  }

  /** Index objects read by `prefetchIndexes`, by name, for the next `readIndexes`. */
  private readAhead: Promise<Map<string, Buffer | undefined>> | undefined;

  private async indexNames(signal?: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    for await (const info of this.backend.list('index/', signal ? { signal } : {})) names.push(info.name);
    return names;
  }

  /** The sealed objects `names` (undefined: removed since listed), taken from `early` where it has them. */
  private loadIndexObjects(
    names: readonly string[],
    signal?: AbortSignal,
    early?: ReadonlyMap<string, Buffer | undefined>,
  ): Promise<(Buffer | undefined)[]> {
    // All asked for at once: the backend's limit decides how many run together.
    return Promise.all(
      names.map(
        (name) =>
          early?.get(name) ??
          this.loadObject(name, signal).catch((error: unknown) => {
            // Removed by a concurrent prune after it wrote the index that supersedes it.
            if (isNotFound(error)) return undefined;
            throw error;
          }),
      ),
    );
  }

  /** Every live index object (see `readIndexes`); damaged ones are warned of and skipped. */
  async *indexFiles(signal?: AbortSignal): AsyncGenerator<IndexObject & { name: string }> {
    const { live, damaged } = await this.readIndexes(signal);
    for (const name of damaged) {
      this.warn(
        name,
        `index object ${name} fails authentication: the blobs only it lists are unreachable until \`pullback repair index\``,
      );
    }
    yield* live;
  }

  /**
   * Every live index object, opened, for a caller that looks up batch after batch
   * (restore): `indexFiles` holds them all while it reads them anyway, so keeping
   * them does not raise the peak, and each batch is then a scan in memory.
   */
  async openIndexes(signal?: AbortSignal): Promise<IndexObject[]> {
    const indexes: IndexObject[] = [];
    for await (const index of this.indexFiles(signal)) indexes.push(index);
    return indexes;
  }

  /** Locations of the blobs whose `idKey` `ids` holds (a verify batch). */
  async locateIds(
    ids: { has(key: string): boolean },
    signal?: AbortSignal,
  ): Promise<Map<string, BlobLocation>> {
    return findLiveBlobs(this, await this.openIndexes(signal), ids, signal);
  }

  /** Reads, authenticates, decompresses and checks one blob. */
  async readBlob(location: BlobLocation, signal?: AbortSignal): Promise<Buffer> {
    const sealed = await readAll(
      await this.backend.load(
        packName(location.pack),
        { offset: location.offset, length: location.length },
        signal ? { signal } : {},
      ),
    );
    return this.openBlob(location, sealed);
  }

  openBlob(location: BlobLocation, sealed: Buffer): Buffer {
    const result =
      sealed.length === location.length
        ? openBlob(this.keys.encryption, this.hash, location, sealed)
        : ({ ok: false, reason: `short read (${sealed.length} of ${location.length} bytes)` } as const);
    if (!result.ok) {
      throw new CorruptDataError(
        `blob ${location.id.toString('hex').slice(0, 16)} in pack ${location.pack.slice(0, 16)}: ${result.reason}`,
      );
    }
    return result.plain;
  }
}

async function exists(backend: Backend, name: string): Promise<boolean> {
  try {
    await backend.stat(name);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}
