import { type Config, connectRedis, Registry } from '@pullback/pipeline';

/**
 * A registry on a connection of the agent's own whose commands fail at once while Redis
 * is away (no offline queue, no retries): a renewal that waited in a queue would count
 * for nothing, and the keeper must turn to failsafe promises within `renewMs`.
 */
export function openAgentRegistry(
  redis: Config['redis'],
  options: { readonly prefix?: string; readonly onError?: (error: Error) => void } = {},
): { readonly registry: Registry; close(): Promise<void> } {
  const connection = connectRedis(redis, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 200,
  });
  // Reconnection errors are expected while Redis is away; the keeper says what matters.
  connection.on('error', (error: Error) => options.onError?.(error));
  return {
    registry: new Registry(connection, options.prefix === undefined ? {} : { prefix: options.prefix }),
    close: async () => {
      connection.disconnect();
    },
  };
}
