import { type Backend, openBackend, retryLine } from '@pullback/storage';
import type { CommandContext } from './context.js';

/**
 * Opens a storage URL (archive or outbox) for a command: every retry is shown on
 * stderr as it happens, and SIGINT/SIGTERM (`context.signal`) ends any operation and
 * its backoff at once, whether or not the caller passed the signal down. `durable`:
 * see `FsBackendOptions.durable` (a directory's objects only).
 */
export function openStorage(
  url: string,
  context: CommandContext,
  options: { readonly durable?: boolean } = {},
): Backend {
  const backend: Backend = openBackend(url, {
    ...(options.durable === undefined ? {} : { fs: { durable: options.durable } }),
    retry: {
      signal: context.signal,
      onRetry: (event) => context.stderr.write(`pullback: ${retryLine(event, backend.location)}\n`),
    },
  });
  return backend;
}
