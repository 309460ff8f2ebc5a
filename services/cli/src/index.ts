export type { ArchiveAccess, ArchiveFlags } from './archive-access.js';
export { resolveArchiveAccess } from './archive-access.js';
export type { LoadedConfig } from './config-source.js';
export { loadCliConfig, loadOptionalConfig } from './config-source.js';
export type { CommandContext } from './context.js';
export { CliError, notImplemented, SilentExit } from './errors.js';
export { EXIT_STATUS, exitStatusOf } from './exit-status.js';
export { createProgram } from './program.js';
export { run } from './run.js';
