import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CliError } from '../errors.js';
import type { TakeoverIo } from '../takeover/takeover-io.js';
import { type ActionOutcome, DashboardSessions, SESSION_SECONDS } from './dashboard-sessions.js';
import { type RouteHandler, seeOther, send } from './http-answer.js';
import { LoginThrottle } from './login-throttle.js';
import { redactSecrets } from './secret-redactor.js';

/** What the page's actions do: the functions `import --activate` and `switchover` call, bound to the config. */
export interface TakeoverActions {
  activate(request: { instance: string; reason?: string; by: string }, io: TakeoverIo): Promise<void>;
  switchover(request: { component: string; to?: string; by: string }, io: TakeoverIo): Promise<void>;
}

export interface TakeoverOptions {
  /** The config's dashboardToken; undefined: the actions are off (403). */
  readonly token: string | undefined;
  readonly actions: TakeoverActions;
  /** Replaced by `***` in what an action's outcome shows (secret-redactor.ts). */
  readonly secrets: readonly string[];
  /** Aborted when the dashboard stops; an action under way stops with it. */
  readonly signal: AbortSignal;
}

/** What the page shows of the takeover: the login form, or the action buttons and the last outcome. */
export interface TakeoverView {
  readonly enabled: boolean;
  readonly loggedIn: boolean;
  readonly outcome?: ActionOutcome;
  readonly loginError?: string;
}

/** Renders the whole page for a request, with this view of the takeover. */
export type PageRenderer = (view: TakeoverView) => Promise<string>;

export const TAKEOVER_OFF = 'takeover from the page is off: set dashboardToken in the config';
const COOKIE = 'pullback_session';
const HTML = 'text/html; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';
/** A form is a few fields; anything larger is not ours. */
const MAX_FORM_BYTES = 16 * 1024;

/**
 * The dashboard's takeover (docs/observability.md "Takeover from the page"): a login
 * by the config's token (a form that sets a session cookie, or `Authorization: Bearer`
 * for scripts, never in a URL), and two actions, activate a fallback and switch over,
 * that call what `import --activate` and `switchover` call, with who asked recorded.
 * A browser's action answers 303 back to the page, which shows its outcome once; a
 * script's answers its lines as text (200, or 409 with the refusal).
 */
export class DashboardTakeover {
  readonly #sessions = new DashboardSessions();
  readonly #throttle = new LoginThrottle();
  readonly #tokenDigest: Buffer | undefined;

  constructor(private readonly options: TakeoverOptions) {
    this.#tokenDigest = options.token === undefined ? undefined : digest(options.token);
  }

  /** The takeover as the page shows it to `request`; `takeOutcome` consumes the last action's outcome. */
  view(request: IncomingMessage, takeOutcome = false): TakeoverView {
    const session = this.#sessionOf(request);
    const outcome = takeOutcome ? this.#sessions.takeOutcome(session) : undefined;
    return {
      enabled: this.#tokenDigest !== undefined,
      loggedIn: session !== undefined,
      ...(outcome === undefined ? {} : { outcome }),
    };
  }

  /** The POST routes of the dashboard's route table. */
  routes(renderPage: PageRenderer): Record<string, RouteHandler> {
    return {
      'POST /login': (request, response) => this.#login(request, response, renderPage),
      'POST /logout': async (request, response) => {
        if (!this.#allowed(request, response)) return;
        this.#sessions.close(this.#sessionOf(request));
        seeOther(response, './', { 'Set-Cookie': cookie('', 0) });
      },
      'POST /actions/activate': (request, response) =>
        this.#act(request, response, 'instance', (form, by, io) =>
          this.options.actions.activate(
            { instance: required(form, 'instance'), ...optional(form, 'reason'), by },
            io,
          ),
        ),
      'POST /actions/switchover': (request, response) =>
        this.#act(request, response, 'component', (form, by, io) =>
          this.options.actions.switchover(
            { component: required(form, 'component'), ...optional(form, 'to'), by },
            io,
          ),
        ),
    };
  }

  async #login(request: IncomingMessage, response: ServerResponse, renderPage: PageRenderer): Promise<void> {
    if (!this.#allowed(request, response)) return;
    const address = remoteAddress(request);
    if (this.#throttled(address, response)) return;
    const form = await readForm(request, response);
    if (form === undefined) return;
    if (!this.#tokenMatches(form.get('token'))) {
      this.#throttle.failed(address);
      const view = { enabled: true, loggedIn: false, loginError: 'wrong token' };
      send(response, 401, HTML, await renderPage(view));
      return;
    }
    seeOther(response, './', { 'Set-Cookie': cookie(this.#sessions.open(), SESSION_SECONDS) });
  }

  async #act(
    request: IncomingMessage,
    response: ServerResponse,
    requiredField: string,
    run: (form: URLSearchParams, by: string, io: TakeoverIo) => Promise<void>,
  ): Promise<void> {
    if (!this.#allowed(request, response)) return;
    const session = this.#sessionOf(request);
    const bearer = bearerOf(request);
    if (session === undefined) {
      const address = remoteAddress(request);
      if (bearer !== undefined && this.#throttled(address, response)) return;
      if (bearer === undefined || !this.#tokenMatches(bearer)) {
        if (bearer !== undefined) this.#throttle.failed(address);
        send(
          response,
          401,
          TEXT,
          'log in first: POST /login with the token, or send Authorization: Bearer TOKEN\n',
          { 'WWW-Authenticate': 'Bearer' },
        );
        return;
      }
    }
    const form = await readForm(request, response);
    if (form === undefined) return;
    if (!form.get(requiredField)?.trim()) {
      send(response, 400, TEXT, `the form has no ${requiredField}\n`);
      return;
    }
    const lines: string[] = [];
    const io: TakeoverIo = {
      say: (line) => lines.push(line),
      warn: (line) => lines.push(`warning: ${line}`),
      signal: this.options.signal,
    };
    let outcome: ActionOutcome;
    try {
      await run(form, `dashboard: ${remoteAddress(request)}`, io);
      outcome = { ok: true, lines };
    } catch (error) {
      const message = error instanceof CliError ? error.message : `failed: ${messageOf(error)}`;
      outcome = { ok: false, lines: [...lines, message] };
    }
    outcome = redactSecrets(outcome, this.options.secrets);
    if (session !== undefined) {
      this.#sessions.setOutcome(session, outcome);
      // Back to the page (a reload does not send the form again), from /actions/NAME.
      seeOther(response, '../');
      return;
    }
    send(response, outcome.ok ? 200 : 409, TEXT, outcome.lines.map((line) => `${line}\n`).join(''));
  }

  /**
   * The checks every POST passes first: the actions are on (a token is configured), and
   * the request comes from the page itself, not from a page of another site (its
   * `Origin`; browsers send it with every POST).
   */
  #allowed(request: IncomingMessage, response: ServerResponse): boolean {
    if (this.#tokenDigest === undefined) {
      send(response, 403, TEXT, `${TAKEOVER_OFF}\n`);
      return false;
    }
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${request.headers.host ?? ''}`) {
      send(response, 403, TEXT, 'refused: this request comes from another site than the dashboard\n');
      return false;
    }
    return true;
  }

  #throttled(address: string, response: ServerResponse): boolean {
    const waitMs = this.#throttle.waitFor(address);
    if (waitMs <= 0) return false;
    const seconds = Math.ceil(waitMs / 1000);
    send(response, 429, TEXT, `too many wrong tokens from ${address}; try again in ${seconds} s\n`, {
      'Retry-After': String(seconds),
    });
    return true;
  }

  /** Compared in constant time (digests of equal length), so the answer's timing tells nothing of the token. */
  #tokenMatches(candidate: string | null | undefined): boolean {
    if (this.#tokenDigest === undefined || candidate === null || candidate === undefined) return false;
    return timingSafeEqual(digest(candidate), this.#tokenDigest);
  }

  #sessionOf(request: IncomingMessage): string | undefined {
    const id = cookieValue(request.headers.cookie, COOKIE);
    return this.#sessions.has(id) ? id : undefined;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function cookie(value: string, maxAgeSeconds: number): string {
  return `${COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}`;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

function bearerOf(request: IncomingMessage): string | undefined {
  const match = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1]?.trim();
}

/** The asking address as the history shows it: 127.0.0.1, not ::ffff:127.0.0.1. */
function remoteAddress(request: IncomingMessage): string {
  return (request.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
}

function required(form: URLSearchParams, field: string): string {
  return (form.get(field) ?? '').trim();
}

/** The field, on one line, when the form has it non-empty. */
function optional<K extends string>(form: URLSearchParams, field: K): Partial<Record<K, string>> {
  const value = form.get(field)?.replace(/\s+/g, ' ').trim().slice(0, 200);
  return value ? ({ [field]: value } as Partial<Record<K, string>>) : {};
}

/** The urlencoded form of a POST (what an HTML form and `curl -d` send), or undefined once refused. */
async function readForm(
  request: IncomingMessage,
  response: ServerResponse,
): Promise<URLSearchParams | undefined> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    send(response, 415, TEXT, 'send the form as application/x-www-form-urlencoded\n');
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) {
      send(response, 413, TEXT, `the form is larger than ${MAX_FORM_BYTES} bytes\n`);
      return undefined;
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
