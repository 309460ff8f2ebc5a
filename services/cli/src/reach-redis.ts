import { openPipeline, type Pipeline } from '@pullback/pipeline';
import { redactUrl } from '@pullback/storage/redact-url';
import { Redis } from 'ioredis';
import { CliError } from './errors.js';

/** How long a command waits for Redis to answer before saying it cannot be reached. */
const CONNECT_TIMEOUT_MS = 3000;

/**
 * Opens the pipeline on `url` once Redis has answered a PING. The pipeline's own
 * connection waits for Redis forever (what workers want); a command a user typed
 * must instead fail at once with one line saying where it looked.
 */
export async function openReachablePipeline(url: string, prefix?: string): Promise<Pipeline> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
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
    throw unreachable(url, cause ?? (error as Error));
  } finally {
    probe.disconnect();
  }
  return openPipeline({ redis: url, ...(prefix === undefined ? {} : { prefix }) });
}

// NOAUTH: no password given; WRONGPASS (Redis 6+) or "invalid password" (older): a wrong one;
// "without any password configured": one given to a server that wants none.
const AUTH_REFUSED = /^(NOAUTH|WRONGPASS)\b|invalid password|without any password configured/i;

/** A refused password is told apart from a server that is not there: the fixes differ. */
function unreachable(url: string, error: Error): CliError {
  const at = redactUrl(url);
  const message = error.message.replace(/\.$/, '') || 'no answer';
  if (AUTH_REFUSED.test(message)) {
    return new CliError(
      `redis at ${at}: authentication failed (${message}); HINT: check the password in "redis" in the config (redis://:PASSWORD@host:port)`,
    );
  }
  return new CliError(
    `cannot reach redis at ${at}: ${message}; HINT: start redis-server, or fix "redis" in the config`,
  );
}
