import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig, SentinelConfig } from '../config/redis-schema.js';

/**
 * Every Redis connection Pullback opens from the config's `redis` (the pipeline's,
 * the command line's, the workers') is made here, so both forms of `redis` work
 * everywhere alike.
 *
 * `maxRetriesPerRequest: null` is what BullMQ's workers require: a command waits for
 * Redis to come back instead of failing the job that issued it. `overrides` win
 * (a command a user typed fails fast instead, see services/cli/src/reach-redis.ts).
 */
export function connectRedis(redis: RedisConfig, overrides: RedisOptions = {}): Redis {
  const options: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false, ...overrides };
  if (typeof redis === 'string') return new Redis(redis, options);
  return new SentinelRedis({ ...sentinelOptions(redis), ...options });
}

/**
 * ioredis 5.11's `quit()` leaves the failover detector's sentinel subscriptions open
 * (redis/ioredis#1362), which keeps a process alive after it closed everything;
 * `disconnect()` closes them. So a connection that ended disconnects once more, and so
 * do its duplicates (BullMQ's workers duplicate the connection for blocking commands).
 */
class SentinelRedis extends Redis {
  constructor(options: RedisOptions) {
    super(options);
    this.on('end', () => this.disconnect());
  }

  override duplicate(override?: Partial<RedisOptions>): Redis {
    return new SentinelRedis({ ...this.options, ...override });
  }
}

/**
 * ioredis asks the sentinels for the master at each (re)connection and checks the
 * server it reaches is a master, so after a failover it reconnects to the promoted
 * replica by itself. Two cases need help: `failoverDetector` listens for the sentinels'
 * `+switch-master` and drops the connection at once (a demoted master that stays up
 * would otherwise keep it); a write that still meets a demoted master gets READONLY,
 * and is sent again after a reconnection (it did nothing, so this is safe).
 */
function sentinelOptions(redis: SentinelConfig): RedisOptions {
  return {
    sentinels: redis.sentinels.map(({ host, port }) => ({ host, port })),
    name: redis.name,
    ...(redis.password === undefined ? {} : { password: redis.password }),
    ...(redis.sentinelPassword === undefined ? {} : { sentinelPassword: redis.sentinelPassword }),
    ...(redis.db === undefined ? {} : { db: redis.db }),
    failoverDetector: true,
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
  };
}

export type { Redis, RedisOptions };
