/** How the archive's key is given: a key file, or a passphrase (never on a command line: it would show in ps). */
export type ArchiveKey = { readonly keyFile: string } | { readonly passphrase: string };

/** Where `resolveArchiveKey` looks. */
export interface ArchiveKeySources {
  /** The `--key-file` flag. */
  readonly keyFile?: string;
  /** Read for PULLBACK_KEY_FILE and PULLBACK_PASSWORD. */
  readonly env: NodeJS.ProcessEnv;
  /**
   * The config's `archive.keyFile`, given only when the archive opened is the config's:
   * a key file named for one archive must not be tried on another.
   */
  readonly configKeyFile?: string;
}

/**
 * The archive key, in the one order every command and `pullback up` use: `--key-file`,
 * else PULLBACK_KEY_FILE, else PULLBACK_PASSWORD, else the config's `archive.keyFile`.
 * What is given for this run (flag, environment) comes before the file shared by every
 * run. Empty values count as unset. `undefined` when no key is given.
 */
export function resolveArchiveKey(sources: ArchiveKeySources): ArchiveKey | undefined {
  const keyFile = given(sources.keyFile) ?? given(sources.env.PULLBACK_KEY_FILE);
  if (keyFile !== undefined) return { keyFile };
  const passphrase = given(sources.env.PULLBACK_PASSWORD);
  if (passphrase !== undefined) return { passphrase };
  const configKeyFile = given(sources.configKeyFile);
  return configKeyFile === undefined ? undefined : { keyFile: configKeyFile };
}

function given(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
