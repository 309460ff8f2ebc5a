import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsText } from '@pullback/pipeline';
import { hasBearerToken } from './bearer-token.js';
import type { EpochRecord, EpochRecordStore } from './epoch-record.js';
import type { FailsafePromises } from './failsafe-promises.js';
import { EPOCH_BODY, FAILSAFE_BODY, PROMOTE_BODY, RequestError, readBody } from './request-bodies.js';

/** What the agent knows of its instance right now, for the health endpoints. */
export interface InstanceView {
  /** `none` while it is neither (not set up yet, being reseeded). */
  readonly role: 'active' | 'fallback' | 'none';
  /** The epoch it runs as the active at (an active only). */
  readonly epoch?: number;
  /** It holds permission at that epoch: the active lease or every failsafe promise. */
  readonly holdsPermission: boolean;
  /** Its PostgreSQL server runs. */
  readonly serverRunning: boolean;
  /** A fallback: it streams from the active and is healthy. */
  readonly streaming: boolean;
}

export interface AgentServerOptions {
  /** The instance this agent runs. */
  readonly instance: string;
  /** Default: 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The bearer token the POST endpoints require (the config's `agentToken`). */
  readonly agentToken: string;
  readonly record: EpochRecordStore;
  readonly promises: FailsafePromises;
  readonly view: () => InstanceView | Promise<InstanceView>;
  /** Promotes the instance's server; called only while the record says `epoch` and this instance. */
  readonly promote: (epoch: number) => Promise<void>;
  /**
   * Called once a POST /epoch is recorded, before the answer: the agent demotes its
   * server here when the new record names another instance active, and tells where its
   * stopped server's WAL ends (`stopped`, in the answer). A failure is logged; the
   * record stands. Default: nothing.
   */
  readonly onRecorded?: (record: EpochRecord) => Promise<{ readonly stopped?: StoppedServer } | undefined>;
  /** One line per decision taken on a POST. Default: none. */
  readonly log?: (line: string) => void;
  /** What `GET /metrics` answers: the process's metrics (ProcessMetrics). Default: 404. */
  readonly metrics?: () => Promise<MetricsText>;
}

/**
 * Where the WAL of a stopped server ends, from its pg_control: after a clean shutdown
 * (`state` `shut down`), the shutdown checkpoint at `checkpointLsn` is its last record
 * (docs/election.md "Switchover").
 */
export interface StoppedServer {
  readonly state: string;
  readonly checkpointLsn: string;
  readonly timeline: number;
}

export interface AgentServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/** The body of every health answer. */
export interface HealthBody {
  readonly instance: string;
  readonly role: InstanceView['role'] | 'unknown';
  /** The instance's recorded epoch; null when none is (or it cannot be read). */
  readonly epoch: number | null;
  readonly state:
    | 'writable'
    | 'no-permission'
    | 'streaming'
    | 'not-streaming'
    | 'running'
    | 'stopped'
    | 'unknown';
}

type Reply = { readonly status: number; readonly body: unknown };

/**
 * The agent's HTTP endpoints (docs/election.md "Health endpoints"): HAProxy-style
 * health checks for anyone, and the epoch, failsafe and promote requests for other
 * Pullback processes holding the agent token.
 */
export async function startAgentServer(options: AgentServerOptions): Promise<AgentServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    if (options.metrics !== undefined && request.url?.split('?')[0] === '/metrics') {
      serveMetrics(options.metrics, request, response);
      return;
    }
    answer(options, request).then(
      (reply) => send(response, reply),
      (error: unknown) => {
        const status = error instanceof RequestError ? error.status : 500;
        if (status === 500)
          // The path only: a query string is not ours to log.
          options.log?.(`${request.method} ${request.url?.split('?')[0]}: ${oneLine(error)}`);
        send(response, { status, body: { error: oneLine(error) } });
      },
    );
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

const HEALTH_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

async function answer(options: AgentServerOptions, request: IncomingMessage): Promise<Reply> {
  const path = new URL(request.url ?? '/', 'http://agent').pathname;
  const method = request.method ?? 'GET';
  switch (path) {
    case '/primary':
    case '/replica':
    case '/health':
      if (!HEALTH_METHODS.has(method)) throw new RequestError(405, `${method} ${path} is not allowed`);
      return health(options, path);
    case '/epoch':
      if (HEALTH_METHODS.has(method))
        return { status: 200, body: { record: (await options.record.read()) ?? null } };
      return post(options, request, path, () => recordEpoch(options, request));
    case '/failsafe':
      return post(options, request, path, () => grantFailsafe(options, request));
    case '/promote':
      return post(options, request, path, () => promote(options, request));
    default:
      throw new RequestError(404, `no such endpoint: ${path}`);
  }
}

function post(
  options: AgentServerOptions,
  request: IncomingMessage,
  path: string,
  handle: () => Promise<Reply>,
): Promise<Reply> {
  if (request.method !== 'POST') throw new RequestError(405, `${request.method} ${path} is not allowed`);
  if (!hasBearerToken(request, options.agentToken)) {
    throw new RequestError(401, `${path} needs the agent token (Authorization: Bearer)`);
  }
  return handle();
}

async function recordEpoch(options: AgentServerOptions, request: IncomingMessage): Promise<Reply> {
  const proposal = await readBody(request, EPOCH_BODY);
  const result = await options.record.compareAndSet(proposal, options.promises.veto);
  if (!result.accepted) {
    options.log?.(`refused epoch ${proposal.epoch} (${proposal.active} active): ${result.reason}`);
    // A promise lapses by itself: the asker may try again after it (activation-plan.ts).
    const retryAfterMs = Math.ceil(options.promises.blockingMs(proposal));
    return {
      status: 409,
      body: {
        accepted: false,
        reason: result.reason,
        record: result.record ?? null,
        ...(retryAfterMs > 0 ? { retryAfterMs } : {}),
      },
    };
  }
  options.log?.(`recorded epoch ${result.record.epoch} (${result.record.active} active)`);
  const after = await options.onRecorded?.(result.record).catch((error: unknown) => {
    options.log?.(`after recording epoch ${result.record.epoch}: ${oneLine(error)}`);
    return undefined;
  });
  return {
    status: 200,
    body: {
      accepted: true,
      record: result.record,
      previous: result.previous ?? null,
      ...(after?.stopped === undefined ? {} : { stopped: after.stopped }),
    },
  };
}

async function grantFailsafe(options: AgentServerOptions, request: IncomingMessage): Promise<Reply> {
  const { instance, epoch } = await readBody(request, FAILSAFE_BODY);
  const grant = await options.promises.grant(instance, epoch);
  if (!grant.granted) {
    options.log?.(`refused a failsafe promise to ${instance} at epoch ${epoch}: ${grant.reason}`);
    return { status: 409, body: grant };
  }
  return { status: 200, body: grant };
}

async function promote(options: AgentServerOptions, request: IncomingMessage): Promise<Reply> {
  const { epoch } = await readBody(request, PROMOTE_BODY);
  // Under the record's lock: no newer epoch can be recorded between the check and the promotion.
  return options.record.exclusive(async () => {
    const record = await options.record.read();
    if (record?.epoch !== epoch || record.active !== options.instance) {
      const reason = `the record says ${describe(record)}, not epoch ${epoch} with ${options.instance} active`;
      options.log?.(`refused to promote at epoch ${epoch}: ${reason}`);
      return { status: 409, body: { promoted: false, reason, record: record ?? null } };
    }
    await options.promote(epoch);
    options.log?.(`promoted at epoch ${epoch}`);
    return { status: 200, body: { promoted: true, epoch } };
  });
}

function describe(record: EpochRecord | undefined): string {
  return record === undefined ? 'no epoch' : `epoch ${record.epoch} with ${record.active} active`;
}

async function health(options: AgentServerOptions, path: string): Promise<Reply> {
  const [view, record] = await Promise.all([
    Promise.resolve()
      .then(options.view)
      .catch(() => undefined),
    options.record.read().catch(() => undefined),
  ]);
  const body: HealthBody = {
    instance: options.instance,
    role: view?.role ?? 'unknown',
    epoch: record?.epoch ?? null,
    state: view === undefined ? 'unknown' : stateOf(view, atCurrentEpoch(options.instance, view, record)),
  };
  const healthy = view !== undefined && passes(path, view, atCurrentEpoch(options.instance, view, record));
  return { status: healthy ? 200 : 503, body };
}

/** `/health`: its server runs; `/primary`: the writable active; `/replica`: a streaming fallback. */
function passes(path: string, view: InstanceView, current: boolean): boolean {
  if (!view.serverRunning) return false;
  if (path === '/primary') return view.role === 'active' && view.holdsPermission && current;
  if (path === '/replica') return view.role === 'fallback' && view.streaming;
  return true;
}

/** The view's epoch is the recorded one and the record names this instance active. */
function atCurrentEpoch(instance: string, view: InstanceView, record: EpochRecord | undefined): boolean {
  return record !== undefined && record.epoch === view.epoch && record.active === instance;
}

function stateOf(view: InstanceView, current: boolean): HealthBody['state'] {
  if (!view.serverRunning) return 'stopped';
  if (view.role === 'active') return view.holdsPermission && current ? 'writable' : 'no-permission';
  if (view.role === 'fallback') return view.streaming ? 'streaming' : 'not-streaming';
  return 'running';
}

/** `GET /metrics`: the Prometheus text format, for anyone (as the health endpoints). */
function serveMetrics(
  metrics: () => Promise<MetricsText>,
  request: IncomingMessage,
  response: ServerResponse,
): void {
  if (!HEALTH_METHODS.has(request.method ?? 'GET')) {
    send(response, { status: 405, body: { error: `${request.method} /metrics is not allowed` } });
    return;
  }
  metrics().then(
    ({ contentType, body }) => {
      response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
    },
    (error: unknown) => send(response, { status: 500, body: { error: oneLine(error) } }),
  );
}

function send(response: ServerResponse, reply: Reply): void {
  const text = `${JSON.stringify(reply.body)}\n`;
  response.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim().slice(0, 500);
}
