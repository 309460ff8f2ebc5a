import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { portInUse } from '../port-in-use.js';
import type { DashboardData } from './dashboard-data.js';
import { CONTENT_SECURITY_POLICY, renderPage } from './dashboard-page.js';
import { renderPanel } from './dashboard-panel.js';

export interface DashboardHandlerOptions {
  /** Where the page's data comes from (a `DashboardSource`). */
  readonly read: () => Promise<DashboardData>;
  /** The address the server is bound to. Default: 127.0.0.1. */
  readonly host?: string;
  /** How often the page refreshes, in seconds. */
  readonly refreshSeconds: number;
}

export interface DashboardServerOptions extends DashboardHandlerOptions {
  readonly port: number;
}

export interface DashboardServer {
  /** `http://host:port/`. */
  readonly url: string;
  close(): Promise<void>;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

/**
 * `pullback dashboard`'s HTTP server (node:http, as the agents' health endpoints):
 * the page, its panel and the same data as JSON, read-only. Routes are one table
 * keyed by method and path: the takeover actions (issue 13, item 4) are POST routes
 * to add there, behind a login; until then any other method is refused.
 */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer(dashboardHandler(options));
  await listen(server, options.port, host);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The dashboard's request handler, for its own server or another's (`pullback up`'s, up-http-server.ts). */
export function dashboardHandler(
  options: DashboardHandlerOptions,
): (request: IncomingMessage, response: ServerResponse) => void {
  const host = options.host ?? '127.0.0.1';
  const routes: Readonly<Record<string, Handler>> = {
    'GET /': async (_request, response) =>
      send(response, 200, 'text/html; charset=utf-8', renderPage(await options.read(), options).text),
    'GET /panel': async (_request, response) =>
      send(response, 200, 'text/html; charset=utf-8', renderPanel(await options.read()).text),
    'GET /status.json': async (_request, response) =>
      send(response, 200, 'application/json', `${JSON.stringify(await options.read(), null, 2)}\n`),
  };
  return (request, response) => {
    void handle(request, response, routes, host).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', `${messageOf(error)}\n`);
      else response.destroy();
    });
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  routes: Readonly<Record<string, Handler>>,
  host: string,
): Promise<void> {
  if (!hostAllowed(request.headers.host, host)) {
    send(response, 421, 'text/plain; charset=utf-8', 'this dashboard answers to its own address only\n');
    return;
  }
  const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
  const method = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');
  const route = routes[`${method} ${path}`];
  if (route !== undefined) return route(request, response);
  if (Object.keys(routes).some((key) => key.endsWith(` ${path}`))) {
    response.setHeader('Allow', 'GET, HEAD');
    send(response, 405, 'text/plain; charset=utf-8', 'the dashboard is read-only\n');
    return;
  }
  send(response, 404, 'text/plain; charset=utf-8', `no page ${path}\n`);
}

/**
 * A dashboard bound to loopback answers only requests addressed to loopback: a web
 * page the operator visits cannot rename its own host to 127.0.0.1 (DNS rebinding)
 * and read the dashboard, nor later use its actions.
 */
function hostAllowed(header: string | undefined, boundHost: string): boolean {
  if (!LOOPBACK.has(boundHost)) return true;
  if (header === undefined) return false;
  const name = header.replace(/:\d+$/, '').toLowerCase();
  return LOOPBACK.has(name) || name === 'localhost';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

function send(response: ServerResponse, code: number, type: string, body: string): void {
  response.writeHead(code, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? portInUse(port, host) : error),
    );
    server.listen({ port, host, exclusive: true }, () => resolve());
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
