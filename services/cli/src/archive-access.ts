import { type ArchiveKey, resolveArchiveKey } from '@pullback/pipeline/config/flags';
import { loadOptionalConfig } from './config-source.js';
import { CliError } from './errors.js';

/** The archive options every archive command takes (see options.ts). */
export interface ArchiveFlags {
  readonly archive?: string;
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
 * Finds the archive and its key: `--archive` or else the config's archive.url; the key
 * in the pipeline's one order (resolveArchiveKey: `--key-file`, PULLBACK_KEY_FILE,
 * PULLBACK_PASSWORD, the config's archive.keyFile). The config's key file is offered
 * only with the config's archive: a key file named for one archive must not be tried
 * on another.
 */
export async function resolveArchiveAccess(
  flags: ArchiveFlags,
  env: NodeJS.ProcessEnv,
): Promise<ArchiveAccess> {
  if (flags.archive !== undefined) {
    return {
      url: flags.archive,
      ...accessKey(resolveArchiveKey({ keyFile: flags.keyFile, env })),
      from: '--archive',
    };
  }
  const loaded = await loadOptionalConfig(flags.config, env);
  if (loaded === undefined) {
    throw new CliError(
      'no archive given: pass --archive URL, or name a config with archive.url (--config FILE, PULLBACK_CONFIG or ./pullback.yaml)',
    );
  }
  const { archive } = loaded.config;
  const key = resolveArchiveKey({ keyFile: flags.keyFile, env, configKeyFile: archive.keyFile });
  return { url: archive.url, ...accessKey(key), from: loaded.path };
}

function accessKey(key: ArchiveKey | undefined): { keyFile?: string; password?: string } {
  if (key === undefined) return {};
  return 'keyFile' in key ? { keyFile: key.keyFile } : { password: key.passphrase };
}
