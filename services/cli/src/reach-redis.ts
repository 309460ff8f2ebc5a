import {
  connectRedis,
  describeRedis,
  openPipeline,
  type Pipeline,
  type RedisConfig,
} from '@pullback/pipeline';
import { CliError } from './errors.js';

/** How long a command waits for Redis to answer before saying it cannot be reached. */
const CONNECT_TIMEOUT_MS = 3000;

/**
 * Opens the pipeline on the config's `redis` once Redis (through the sentinels, in
 * the Sentinel form) has answered a PING. The pipeline's own connection waits for
 * Redis forever (what workers want); a command a user typed must instead fail at
 * once with one line saying where it looked.
 */
export async function openReachablePipeline(redis: RedisConfig, prefix?: string): Promise<Pipeline> {
  const probe = connectRedis(redis, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    sentinelRetryStrategy: () => null,
    // The probe lives for one PING: no need to watch for failovers.
    failoverDetector: false,
    enableOfflineQueue: false,
  });
  // ioredis rejects with a bare "Connection is closed."; what went wrong comes as an event.
  let cause: Error | undefined;
  probe.on('error', (error: Error) => {
    cause = error;
  });
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw unreachable(redis, cause ?? (error as Error));
  } finally {
    probe.disconnect();
  }
  return openPipeline({ redis, ...(prefix === undefined ? {} : { prefix }) });
}

// NOAUTH: no password given; WRONGPASS (Redis 6+) or "invalid password" (older): a wrong one;
// "without any password configured": one given to a server that wants none. A sentinel's
// refusal comes as "no sentinel answered: WRONGPASS ..." (sentinelWording).
const AUTH_REFUSED = /(^|: )(NOAUTH|WRONGPASS)\b|invalid password|without any password configured/i;

/** A refused password is told apart from a server that is not there: the fixes differ. */
function unreachable(redis: RedisConfig, error: Error): CliError {
  const at = describeRedis(redis);
  const message = sentinelWording(error.message.replace(/\.$/, '')) || 'no answer';
  const sentinel = typeof redis !== 'string';
  if (AUTH_REFUSED.test(message)) {
    const where = sentinel
      ? '"password" (the master\'s) or "sentinelPassword" under "redis"'
      : 'the password in "redis"';
    return new CliError(
      `redis at ${at}: authentication failed (${message}); HINT: check ${where} in the config${sentinel ? '' : ' (redis://:PASSWORD@host:port)'}`,
    );
  }
  const start = sentinel ? 'start redis-sentinel and redis-server' : 'start redis-server';
  return new CliError(
    `cannot reach redis at ${at}: ${message}; HINT: ${start}, or fix "redis" in the config`,
  );
}

/** ioredis's "All sentinels are unreachable and retry is disabled. Last error: X", in our words (retry is ours to disable). */
function sentinelWording(message: string): string {
  return message.replace(
    /^All sentinels are unreachable and retry is disabled\. Last error: /,
    'no sentinel answered: ',
  );
}
