import type { RecordEpochAnswer, StepOutcome } from '@pullback/election';

/** An instance's epoch record as its agent serves it (`GET /epoch`; workers/agent epoch-record.ts). */
export interface AgentEpochRecord {
  readonly epoch: number;
  readonly active: string;
  readonly at: string;
}

/** Where one instance's agent is reached. */
export interface AgentAddress {
  readonly instance: string;
  /** `http://host:port`. */
  readonly url: string;
}

export interface AgentClientOptions {
  /** The config's agentToken: sent in the Authorization header of every POST, never anywhere else. */
  readonly agentToken: string;
  /** Each read gives up after this long. Default: 3 000 ms. */
  readonly timeoutMs?: number;
  /**
   * `POST /epoch` gives up after this long: an agent demotes its server before it
   * answers a record naming another active, and that answer is worth waiting for.
   * Default: 10 000 ms.
   */
  readonly recordTimeoutMs?: number;
}

/**
 * Talks to the instances' agents (docs/election.md "Health endpoints"): reads their
 * epoch record, proposes an epoch, asks for a promotion. Every failure is one line
 * naming the instance and its agent's address; the token is never in one.
 */
export class AgentClient {
  private readonly timeoutMs: number;
  private readonly recordTimeoutMs: number;

  constructor(private readonly options: AgentClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.recordTimeoutMs = options.recordTimeoutMs ?? 10_000;
  }

  /** `GET /epoch`: the record, undefined when the instance has none. Throws when the agent does not answer. */
  async epoch(agent: AgentAddress): Promise<AgentEpochRecord | undefined> {
    const { status, body } = await this.request(agent, 'GET', '/epoch');
    if (status !== 200)
      throw new Error(`agent of ${agent.instance} at ${agent.url}: ${errorOf(status, body)}`);
    const record = (body as { record?: AgentEpochRecord | null }).record;
    return record ?? undefined;
  }

  /**
   * `POST /epoch {epoch, active}`: accepted (with where its stopped server's WAL ends,
   * when it is stopped), refused (with the epoch it has), or unreachable.
   */
  async recordEpoch(agent: AgentAddress, epoch: number, active: string): Promise<RecordEpochAnswer> {
    let reply: Reply;
    try {
      reply = await this.request(agent, 'POST', '/epoch', { epoch, active }, this.recordTimeoutMs);
    } catch (error) {
      return { outcome: 'unreachable', reason: (error as Error).message };
    }
    const body = reply.body as {
      accepted?: boolean;
      reason?: string;
      retryAfterMs?: number;
      record?: AgentEpochRecord | null;
      stopped?: Extract<RecordEpochAnswer, { outcome: 'accepted' }>['stopped'];
    };
    if (reply.status === 200 && body.accepted === true) {
      return { outcome: 'accepted', ...(body.stopped === undefined ? {} : { stopped: body.stopped }) };
    }
    if (reply.status === 409) {
      return {
        outcome: 'refused',
        epoch: body.record?.epoch ?? epoch,
        ...(body.reason === undefined ? {} : { reason: body.reason }),
        ...(typeof body.retryAfterMs === 'number' ? { retryAfterMs: body.retryAfterMs } : {}),
      };
    }
    return {
      outcome: 'unreachable',
      reason: `agent of ${agent.instance} at ${agent.url}: ${errorOf(reply.status, reply.body)}`,
    };
  }

  /** `POST /promote {epoch}`: the agent promotes its server only if its record says `epoch` and itself. */
  async promote(agent: AgentAddress, epoch: number, timeoutMs = 150_000): Promise<StepOutcome> {
    try {
      const { status, body } = await this.request(agent, 'POST', '/promote', { epoch }, timeoutMs);
      const answer = body as { promoted?: boolean; reason?: string };
      if (status === 200 && answer.promoted === true) return { ok: true };
      return { ok: false, reason: answer.reason ?? `agent of ${agent.instance}: ${errorOf(status, body)}` };
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  }

  /** `GET <path>` of a health endpoint (`/primary`, `/replica`, `/health`): its status, or undefined when no answer. */
  async health(agent: AgentAddress, path: '/primary' | '/replica' | '/health'): Promise<number | undefined> {
    return this.request(agent, 'GET', path).then(
      (reply) => reply.status,
      () => undefined,
    );
  }

  private async request(
    agent: AgentAddress,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<Reply> {
    let response: Response;
    try {
      response = await fetch(`${agent.url}${path}`, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          ...(method === 'POST'
            ? { authorization: `Bearer ${this.options.agentToken}`, 'content-type': 'application/json' }
            : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new Error(
        `agent of ${agent.instance} at ${agent.url} did not answer: ${causeOf(error, timeoutMs)}`,
      );
    }
    const text = await response.text();
    let parsed: unknown = {};
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new Error(`agent of ${agent.instance} at ${agent.url} answered ${response.status} without JSON`);
    }
    return { status: response.status, body: parsed };
  }
}

type Reply = { readonly status: number; readonly body: unknown };

function errorOf(status: number, body: unknown): string {
  const error = (body as { error?: unknown }).error;
  return `${status}${typeof error === 'string' ? ` ${error}` : ''}`;
}

/** fetch's own message is "fetch failed": the reason is in its cause (ECONNREFUSED, a timeout). */
function causeOf(error: unknown, timeoutMs: number): string {
  const failure = error as Error & { cause?: { code?: string; message?: string } };
  if (failure.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return failure.cause?.code ?? failure.cause?.message ?? failure.message;
}
