import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsText } from '@pullback/pipeline';
import { portInUse } from './port-in-use.js';

export interface UpHttpServerOptions {
  readonly port: number;
  readonly host: string;
  /** What `GET /metrics` answers (the process's `ProcessMetrics`). */
  readonly metrics: () => Promise<MetricsText>;
  /** Every other request: the dashboard's handler (dashboard-server.ts). Default: 404. */
  readonly dashboard?: (request: IncomingMessage, response: ServerResponse) => void;
}

export interface UpHttpServer {
  /** `http://host:port/`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `pullback up`'s HTTP server, at the config's `http:` (docs/observability.md "HTTP
 * servers"): `/metrics` for Prometheus, and the dashboard on every other path.
 */
export async function startUpHttpServer(options: UpHttpServerOptions): Promise<UpHttpServer> {
  const server = createServer((request, response) => {
    if (new URL(request.url ?? '/', 'http://up').pathname === '/metrics')
      serveMetrics(options, request, response);
    else if (options.dashboard !== undefined) options.dashboard(request, response);
    else sendText(response, 404, 'no dashboard here: this process does not open the archive\n');
  });
  await listen(server, options.port, options.host);
  const { port } = server.address() as AddressInfo;
  const host = options.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function serveMetrics(
  options: UpHttpServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    sendText(response, 405, 'metrics are read-only\n');
    return;
  }
  options.metrics().then(
    ({ contentType, body }) => {
      response.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
    },
    (error: unknown) =>
      sendText(response, 500, `${error instanceof Error ? error.message : String(error)}\n`),
  );
}

function sendText(response: ServerResponse, code: number, body: string): void {
  response.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(body);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' ? portInUse(port, host, 'choose another http.port in the config') : error,
      ),
    );
    server.listen({ port, host, exclusive: true }, () => resolve());
  });
}
