export type { Duration } from './config/duration.js';
export { DURATION_HELP, parseDuration } from './config/duration.js';
export type { ConfigErrorKind } from './config/error.js';
export { ConfigError } from './config/error.js';
export { loadConfig, parseConfig } from './config/load.js';
export { checkLocation, checkRedisUrl } from './config/location.js';
export type { ConfigPathSource } from './config/path.js';
export { DEFAULT_CONFIG_PATH, locateConfig, resolveConfigPath } from './config/path.js';
export { DEFAULT_SCHEDULE } from './config/schedule.js';
export type {
  ArchiveConfig,
  ComponentConfig,
  Config,
  FilesComponentConfig,
  InstanceConfig,
  InstanceRole,
  PostgresComponentConfig,
  RetentionPolicy,
} from './config/schema.js';
export * from './recipe.js';
