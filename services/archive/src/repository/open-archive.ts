import { access } from 'node:fs/promises';
import { type Backend, openBackend } from '@pullback/storage';
import { type Credential, createKeyFile } from '../crypto/keys.js';
import { ArchiveError } from '../errors.js';
import { Archive } from './archive.js';
import type { ArchiveConfigOptions } from './config.js';

export interface OpenArchiveOptions {
  /** A storage URL (a path, `file:///path`, `s3://bucket/prefix`) or an open backend. */
  readonly archive: string | Backend;
  /** A key file (`pullback-key-v1 …`). Exactly one of `keyFile` and `passphrase`. */
  readonly keyFile?: string;
  readonly passphrase?: string;
}

export interface InitArchiveOptions extends OpenArchiveOptions, ArchiveConfigOptions {}

export interface InitArchiveResult {
  readonly archive: Archive;
  /** True when `keyFile` did not exist and a new key was written there. */
  readonly keyFileCreated: boolean;
}

function credentialOf(options: OpenArchiveOptions): Credential {
  if (options.keyFile !== undefined && options.passphrase !== undefined) {
    throw new ArchiveError('conflicting-keys', 'give either a key file or a passphrase, not both');
  }
  if (options.keyFile !== undefined) return { keyFile: options.keyFile };
  if (options.passphrase !== undefined) {
    if (options.passphrase === '') throw new ArchiveError('wrong-key', 'empty passphrase');
    return { passphrase: options.passphrase };
  }
  throw new ArchiveError('no-key', 'no archive key given', {
    hint: 'pass --key-file, or set PULLBACK_KEY_FILE, PULLBACK_PASSWORD or archive.keyFile in the config (taken in that order)',
  });
}

function backendOf(archive: string | Backend): Backend {
  return typeof archive === 'string' ? openBackend(archive) : archive;
}

/** Opens an existing archive; fails with `not-an-archive` or `wrong-key` otherwise. */
export async function openArchive(options: OpenArchiveOptions): Promise<Archive> {
  return Archive.open(backendOf(options.archive), credentialOf(options));
}

/**
 * Creates an archive in an empty location. When `keyFile` names a file that does not
 * exist yet, a new random key is written there first (mode 0600).
 */
export async function initArchive(options: InitArchiveOptions): Promise<InitArchiveResult> {
  const credential = credentialOf(options);
  const backend = backendOf(options.archive);
  let keyFileCreated = false;
  if ('keyFile' in credential) {
    const missing = await access(credential.keyFile).then(
      () => false,
      () => true,
    );
    if (missing) {
      // Refuse before creating a key for a location that is already in use.
      for await (const _ of backend.list('')) {
        throw new ArchiveError('already-an-archive', `not empty: ${backend.location}`, {
          hint: 'create an archive in an empty directory or prefix',
        });
      }
      await createKeyFile(credential.keyFile);
      keyFileCreated = true;
    }
  }
  const archive = await Archive.init(backend, credential, options);
  return { archive, keyFileCreated };
}
