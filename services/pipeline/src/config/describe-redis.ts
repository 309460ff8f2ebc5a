import { redactUrl } from '@pullback/storage/redact-url';
import type { RedisConfig } from './redis-schema.js';

/**
 * The config's `redis` as error lines and logs name it: `redis at redis://host:6379`
 * (password redacted) or `redis master "mymaster" via sentinels h1:26379, h2:26379`.
 * Never a password.
 */
export function describeRedis(redis: RedisConfig): string {
  if (typeof redis === 'string') return `redis at ${redactUrl(redis)}`;
  const sentinels = redis.sentinels.map((sentinel) => `${sentinel.host}:${sentinel.port}`).join(', ');
  return `redis master ${JSON.stringify(redis.name)} via sentinels ${sentinels}`;
}
