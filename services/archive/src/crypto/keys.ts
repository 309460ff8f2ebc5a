import { hkdfSync, randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { ArchiveError } from '../errors.js';
import { seal, unseal } from './seal.js';

export const MASTER_KEY_BYTES = 32;

/** The keys every other part derives from the master key (HKDF-SHA256, empty salt). */
export interface ArchiveKeys {
  /** AES-256-GCM key for every sealed object and blob. */
  readonly encryption: Buffer;
  /**
   * Key of the keyed BLAKE3 that names blobs and hashes superblocks and small files
   * (not pages: see `pageHash`).
   */
  readonly id: Buffer;
  /** Seed of the content-defined chunker's gear table: cut points leak nothing. */
  readonly gear: Buffer;
}

export function deriveKeys(master: Buffer): ArchiveKeys {
  const derive = (info: string) =>
    Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `pullback/v1/${info}`, 32));
  return { encryption: derive('encryption'), id: derive('id'), gear: derive('gear') };
}

/** How the master key is unlocked: a passphrase, or the secret of a key file. */
export type Credential = { readonly passphrase: string } | { readonly keyFile: string };

/** scrypt cost: 2^15 × 8 × 128 B = 32 MiB and about 0.1 s here; stored per key object. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;

const KEY_FILE_PREFIX = 'pullback-key-v1 ';

/** A `keys/<id>` object: the master key sealed under a key-encryption key. */
export interface KeyObject {
  readonly version: 1;
  readonly created: string;
  readonly hostname: string;
  readonly kdf: 'scrypt' | 'hkdf-sha256';
  readonly scrypt?: { readonly N: number; readonly r: number; readonly p: number };
  /** base64, 32 bytes. */
  readonly salt: string;
  /** base64 of `seal(KEK, masterKey, "pullback key")`. */
  readonly wrapped: string;
}

const WRAP_AAD = Buffer.from('pullback key');

function scrypt(passphrase: string, salt: Buffer, params: { N: number; r: number; p: number }) {
  return new Promise<Buffer>((resolve, reject) => {
    scryptCallback(
      passphrase.normalize('NFC'),
      salt,
      32,
      { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

async function keyEncryptionKey(
  credential: Credential,
  kdf: KeyObject['kdf'],
  salt: Buffer,
  params: KeyObject['scrypt'],
): Promise<Buffer> {
  if (kdf === 'scrypt') {
    if (!('passphrase' in credential)) throw new Error('scrypt key needs a passphrase');
    return scrypt(credential.passphrase, salt, params ?? SCRYPT);
  }
  if (!('keyFile' in credential)) throw new Error('key-file key needs a key file');
  const secret = await readKeyFile(credential.keyFile);
  return Buffer.from(hkdfSync('sha256', secret, salt, 'pullback/v1/key-file', 32));
}

export async function wrapMasterKey(master: Buffer, credential: Credential): Promise<KeyObject> {
  const kdf = 'passphrase' in credential ? 'scrypt' : 'hkdf-sha256';
  const salt = randomBytes(32);
  const kek = await keyEncryptionKey(credential, kdf, salt, SCRYPT);
  return {
    version: 1,
    created: new Date().toISOString(),
    hostname: hostname(),
    kdf,
    ...(kdf === 'scrypt' ? { scrypt: { ...SCRYPT } } : {}),
    salt: salt.toString('base64'),
    wrapped: seal(kek, master, WRAP_AAD).toString('base64'),
  };
}

/**
 * The master key, or `undefined` when this credential does not open this key object
 * (another kind of credential, or the wrong passphrase or key file).
 */
export async function unwrapMasterKey(key: KeyObject, credential: Credential): Promise<Buffer | undefined> {
  if (key.kdf === 'scrypt' && !('passphrase' in credential)) return undefined;
  if (key.kdf === 'hkdf-sha256' && !('keyFile' in credential)) return undefined;
  const kek = await keyEncryptionKey(credential, key.kdf, Buffer.from(key.salt, 'base64'), key.scrypt);
  const master = unseal(kek, Buffer.from(key.wrapped, 'base64'), WRAP_AAD);
  return master?.length === MASTER_KEY_BYTES ? master : undefined;
}

export function parseKeyObject(text: string): KeyObject | undefined {
  try {
    const value = JSON.parse(text) as Partial<KeyObject>;
    if (value.version !== 1 || typeof value.salt !== 'string' || typeof value.wrapped !== 'string') {
      return undefined;
    }
    if (value.kdf !== 'scrypt' && value.kdf !== 'hkdf-sha256') return undefined;
    return value as KeyObject;
  } catch {
    return undefined;
  }
}

/** Reads a key file: one line, `pullback-key-v1 <base64 of 32 random bytes>`. */
export async function readKeyFile(path: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ArchiveError('bad-key-file', `cannot read key file ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'check the path of the key file and that this user may read it',
    });
  }
  const line = text.trim();
  const secret = line.startsWith(KEY_FILE_PREFIX)
    ? Buffer.from(line.slice(KEY_FILE_PREFIX.length), 'base64')
    : undefined;
  if (secret?.length !== 32) {
    throw new ArchiveError('bad-key-file', `not a pullback key file: ${path}`, {
      hint: 'a key file holds one line starting with "pullback-key-v1 "',
    });
  }
  return secret;
}

/** Creates a new key file (never overwrites one), readable by its owner only. */
export async function createKeyFile(path: string): Promise<void> {
  const line = `${KEY_FILE_PREFIX}${randomBytes(32).toString('base64')}\n`;
  try {
    await writeFile(path, line, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new ArchiveError('bad-key-file', `cannot create key file ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'name a key file in a directory that exists and that this user may write to',
    });
  }
}
