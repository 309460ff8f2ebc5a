/*
 * The parts of the config contract that check single values (archive
 * locations), the error they raise, and the order in which the archive key is found, without the YAML parser and schema library
 * that loading a config file needs: every command line parses its flags with these,
 * and most commands never read a config file. `@pullback/pipeline/config/flags`.
 */

export { type ArchiveKey, type ArchiveKeySources, resolveArchiveKey } from './archive-key.js';
export type { ConfigErrorKind } from './error.js';
export { ConfigError } from './error.js';
export { checkLocation, checkRedisUrl } from './location.js';
