import { redactUrl } from '@pullback/storage/redact-url';
import type { RedisConfig } from './redis-schema.js';

/**
 * Where the config's `redis` is, as error lines and logs name it (after "redis at"):
 * `redis://host:6379` (password redacted) or `sentinels h1:26379, h2:26379 (master "mymaster")`.
 * Never a password.
 */
export function describeRedis(redis: RedisConfig): string {
  if (typeof redis === 'string') return redactUrl(redis);
  const sentinels = redis.sentinels.map((sentinel) => `${sentinel.host}:${sentinel.port}`).join(', ');
  return `sentinels ${sentinels} (master ${JSON.stringify(redis.name)})`;
}
