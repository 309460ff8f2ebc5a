import { openPipeline, type Pipeline } from '@pullback/pipeline';
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
  // Connection errors are reported by the rejected connect below; this keeps ioredis quiet.
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new CliError(
      `cannot reach redis at ${redactUrl(url)}: ${(error as Error).message || 'no answer'}; HINT: start redis-server, or fix "redis" in the config`,
    );
  } finally {
    probe.disconnect();
  }
  return openPipeline({ redis: url, ...(prefix === undefined ? {} : { prefix }) });
}

/** A Redis URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
