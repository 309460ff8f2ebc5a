/*
 * The config contract alone: what a command line needs to check its flags and the
 * config file, without loading the queues, Redis client or archive (that is most of
 * a command's start-up time). `@pullback/pipeline/config`.
 */
export {
  type ArchiveKey,
  type ArchiveKeySources,
  resolveArchiveKey,
} from './archive-key.js';
export { describeRedis } from './describe-redis.js';
export {
  ELECTION_SETTING_DEFAULTS,
  type ElectionSettings,
  electionSettings,
} from './election-schema.js';
export * from './flags.js';
export { loadConfig, parseConfig } from './load.js';
export type { ConfigPathSource } from './path.js';
export { DEFAULT_CONFIG_PATH, locateConfig, resolveConfigPath } from './path.js';
export type { RedisConfig, SentinelConfig } from './redis-schema.js';
export { DEFAULT_SCHEDULE, longestScheduleGapSeconds } from './schedule.js';
export type {
  AgentConfig,
  ArchiveSection,
  ComponentConfig,
  Config,
  FilesComponentConfig,
  HttpConfig,
  InstanceConfig,
  InstanceRole,
  LogicalConfig,
  PgBouncerConfig,
  PostgresComponentConfig,
  WalConfig,
} from './schema.js';
export { walSlotName } from './wal-slot.js';
