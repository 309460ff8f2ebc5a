import { Redis } from 'ioredis';

/**
 * A Redis connection for BullMQ and the registry. `maxRetriesPerRequest: null`
 * is what BullMQ's workers require: a command waits for Redis to come back instead
 * of failing the job that issued it.
 */
export function connectRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

export type { Redis };
