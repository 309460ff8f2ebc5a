import type { Redis } from 'ioredis';

/**
 * Prepends `record` (as JSON) to the list at `key`, keeping its newest `kept`; with
 * `countKey`, also counts it there, in the same transaction (the list forgets, the count does not).
 */
export async function pushCapped(
  redis: Redis,
  key: string,
  record: unknown,
  kept: number,
  countKey?: string,
): Promise<void> {
  const transaction = redis
    .multi()
    .lpush(key, JSON.stringify(record))
    .ltrim(key, 0, kept - 1);
  if (countKey !== undefined) transaction.incr(countKey);
  await transaction.exec();
}

/** The newest `count` records of the list at `key`, newest first. */
export async function newestOf<T>(redis: Redis, key: string, count: number): Promise<T[]> {
  const items = await redis.lrange(key, 0, count - 1);
  return items.map((item) => JSON.parse(item) as T);
}
