import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { portInUse } from '../port-in-use.js';
import type { DashboardData } from './dashboard-data.js';
import { renderPage } from './dashboard-page.js';
import { renderPanel } from './dashboard-panel.js';
import { DashboardTakeover, type TakeoverOptions, type TakeoverView } from './dashboard-takeover.js';
import { type RouteHandler, send } from './http-answer.js';

export interface DashboardHandlerOptions {
  /** Where the page's data comes from (a `DashboardSource`). */
  readonly read: () => Promise<DashboardData>;
  /** The address the server is bound to. Default: 127.0.0.1. */
  readonly host?: string;
  /** How often the page refreshes, in seconds. */
  readonly refreshSeconds: number;
  /** The takeover actions and their login (docs/observability.md); without it they answer 403. */
  readonly takeover?: TakeoverOptions;
}

export interface DashboardServerOptions extends DashboardHandlerOptions {
  readonly port: number;
}

export interface DashboardServer {
  /** `http://host:port/`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `pullback dashboard`'s HTTP server (node:http, as the agents' health endpoints):
 * the page, its panel and the same data as JSON; and the takeover's POST routes,
 * behind a login (dashboard-takeover.ts). Routes are one table keyed by method and path.
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
  const takeover = new DashboardTakeover(options.takeover ?? TAKEOVER_NOT_GIVEN);
  const page = async (view: TakeoverView) =>
    renderPage(await options.read(), { refreshSeconds: options.refreshSeconds, takeover: view }).text;
  const routes: Readonly<Record<string, RouteHandler>> = {
    'GET /': async (request, response) =>
      send(response, 200, 'text/html; charset=utf-8', await page(takeover.view(request, true))),
    'GET /panel': async (request, response) =>
      send(
        response,
        200,
        'text/html; charset=utf-8',
        renderPanel(await options.read(), { actions: takeover.view(request).loggedIn }).text,
      ),
    'GET /status.json': async (_request, response) =>
      send(response, 200, 'application/json', `${JSON.stringify(await options.read(), null, 2)}\n`),
    ...takeover.routes(page),
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
  routes: Readonly<Record<string, RouteHandler>>,
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
  const methods = Object.keys(routes)
    .filter((key) => key.endsWith(` ${path}`))
    .map((key) => key.slice(0, key.indexOf(' ')));
  if (methods.length > 0) {
    const allow = methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ');
    send(response, 405, 'text/plain; charset=utf-8', `${path} answers ${allow} only\n`, { Allow: allow });
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

/** A server started without takeover options: its actions answer 403, as with no token configured. */
const TAKEOVER_NOT_GIVEN: TakeoverOptions = {
  token: undefined,
  actions: {
    activate: () => Promise.reject(new Error('no takeover actions')),
    switchover: () => Promise.reject(new Error('no takeover actions')),
  },
  secrets: [],
  signal: new AbortController().signal,
};

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
