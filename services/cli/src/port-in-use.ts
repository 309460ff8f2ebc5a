import { createServer } from 'node:net';
import { CliError } from './errors.js';

/**
 * Refuses a port something already listens on, by listening on it for a moment:
 * `restore --start` checks before it restores, rather than after writing a whole
 * cluster that then cannot start. A server that takes the port in between is still
 * reported by the start.
 */
export async function ensurePortFree(port: number, host = '127.0.0.1'): Promise<void> {
  const server = createServer();
  const free = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
    );
    server.listen({ port, host, exclusive: true }, () => resolve(true));
  });
  if (free) await new Promise<void>((resolve) => server.close(() => resolve()));
  else throw portInUse(port, host);
}

/** The one line for a port something else listens on (`restore --start`, `dashboard`, `up`'s `http.port`). */
export function portInUse(port: number, host: string, hint = 'choose another --port'): CliError {
  return new CliError(`port ${port} is in use on ${host}; HINT: ${hint}`);
}
