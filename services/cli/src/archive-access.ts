import { loadOptionalConfig } from './config-source.js';
import { CliError } from './errors.js';

/** The archive options every archive command takes (see options.ts). */
export interface ArchiveFlags {
  readonly archive?: string;
  /** Already includes PULLBACK_KEY_FILE (commander reads it). */
  readonly keyFile?: string;
  readonly config?: string;
}

/** Where the archive is and how to open it. */
export interface ArchiveAccess {
  readonly url: string;
  /** Exactly one of keyFile and password is set, or neither when no key was given. */
  readonly keyFile?: string;
  readonly password?: string;
  /** Where `url` came from, for messages: "--archive" or the config file's path. */
  readonly from: string;
}

/**
 * Finds the archive and its key: `--archive` or else the config's archive.url;
 * the key from `--key-file` / PULLBACK_KEY_FILE, else PULLBACK_PASSWORD, else the
 * config's archive.keyFile. The config's key file is used only with the config's
 * archive: a key file named for one archive must not be tried on another.
 */
export async function resolveArchiveAccess(
  flags: ArchiveFlags,
  env: NodeJS.ProcessEnv,
): Promise<ArchiveAccess> {
  const explicitKey = keyFromFlagsOrEnv(flags, env);
  if (flags.archive !== undefined) return { url: flags.archive, ...explicitKey, from: '--archive' };

  const loaded = await loadOptionalConfig(flags.config, env);
  if (loaded === undefined) {
    throw new CliError(
      'no archive given: pass --archive URL, or name a config with archive.url (--config FILE, PULLBACK_CONFIG or ./pullback.yaml)',
    );
  }
  const { archive } = loaded.config;
  const key =
    explicitKey.keyFile !== undefined || explicitKey.password !== undefined
      ? explicitKey
      : configKey(archive.keyFile);
  return { url: archive.url, ...key, from: loaded.path };
}

function keyFromFlagsOrEnv(
  flags: ArchiveFlags,
  env: NodeJS.ProcessEnv,
): { keyFile?: string; password?: string } {
  if (flags.keyFile !== undefined && flags.keyFile !== '') return { keyFile: flags.keyFile };
  const password = env.PULLBACK_PASSWORD;
  if (password !== undefined && password !== '') return { password };
  return {};
}

function configKey(keyFile: string | undefined): { keyFile?: string } {
  return keyFile === undefined ? {} : { keyFile };
}
