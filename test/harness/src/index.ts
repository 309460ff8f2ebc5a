export { findExecutable, postgresBinDir } from './find-executable.js';
export { freePort } from './free-port.js';
export { type PgBouncerOptions, type PgBouncerServer, startPgBouncer } from './pgbouncer.js';
export { type PostgresOptions, type PostgresServer, postgresOwner, startPostgres } from './postgres.js';
export { quietSchedule } from './quiet-schedule.js';
export { type RedisServer, startRedis } from './redis.js';
export { redisInfo, redisText } from './redis-info.js';
export {
  type RedisNode,
  type RedisSentinels,
  type RedisSentinelsOptions,
  startRedisSentinels,
} from './redis-sentinels.js';
export { type S3Options, type S3Server, startS3 } from './s3.js';
export { scratchDir } from './scratch-dir.js';
export { type RunningServer, startServer } from './server-process.js';
export { waitFor } from './wait-for.js';
