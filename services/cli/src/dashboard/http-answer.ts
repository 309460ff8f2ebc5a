import type { IncomingMessage, ServerResponse } from 'node:http';
import { CONTENT_SECURITY_POLICY } from './dashboard-page.js';

/** The headers of every dashboard answer (docs/dashboard.md "Security"). */
function securityHeaders(): Record<string, string> {
  return {
    'Cache-Control': 'no-store',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    // Not no-referrer: with it, a browser sends `Origin: null` with the page's own forms,
    // and the takeover's Origin check could not tell them from another site's.
    'Referrer-Policy': 'same-origin',
  };
}

export function send(
  response: ServerResponse,
  code: number,
  type: string,
  body: string,
  headers: Readonly<Record<string, string | string[]>> = {},
): void {
  response.writeHead(code, { 'Content-Type': type, ...securityHeaders(), ...headers });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

/** 303 See Other to `location` (relative to the request's path, so the page can be mounted under a prefix). */
export function seeOther(
  response: ServerResponse,
  location: string,
  headers: Readonly<Record<string, string | string[]>> = {},
): void {
  response.writeHead(303, { Location: location, ...securityHeaders(), ...headers });
  response.end();
}

/** One entry of the dashboard's route table, keyed by `METHOD path`. */
export type RouteHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;
