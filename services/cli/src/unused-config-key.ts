import type { ArchiveAccess, ArchiveFlags } from './archive-access.js';
import { loadOptionalConfig } from './config-source.js';
import { CliError } from './errors.js';
import { EXIT_STATUS } from './exit-status.js';

/**
 * No key for `--archive` while the config names a key file: that one is kept for the
 * config's own archive (archive-access.ts), so say so rather than the archive's usual
 * hint to set it. A config that cannot be read changes nothing: `--archive` needs none.
 */
export async function refuseUnusedConfigKey(
  access: ArchiveAccess,
  flags: ArchiveFlags,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (access.from !== '--archive' || access.keyFile !== undefined || access.password !== undefined) return;
  const loaded = await loadOptionalConfig(flags.config, env).catch(() => undefined);
  const keyFile = loaded?.config.archive.keyFile;
  if (loaded === undefined || keyFile === undefined) return;
  throw new CliError(
    `no archive key given for --archive ${access.url}; HINT: archive.keyFile of ${loaded.path} is used only with its archive.url: pass --key-file ${keyFile}, or leave out --archive`,
    EXIT_STATUS.key,
  );
}
