import { randomBytes } from 'node:crypto';

/** What the page shows once after an action: its lines, and whether it was refused. */
export interface ActionOutcome {
  readonly ok: boolean;
  readonly lines: readonly string[];
}

interface Session {
  readonly expiresAt: number;
  /** The last action's outcome, shown by the next page view and then dropped. */
  outcome?: ActionOutcome;
}

/** How long a login lasts: a working day, then the token again. */
export const SESSION_SECONDS = 12 * 60 * 60;

/**
 * The dashboard's logins, in memory only: a restart logs everyone out. A session id is
 * 32 random bytes, so it cannot be guessed; it is the only thing the cookie holds.
 */
export class DashboardSessions {
  readonly #sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  open(): string {
    this.#prune();
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(id, { expiresAt: this.now() + SESSION_SECONDS * 1000 });
    return id;
  }

  /** Whether `id` is a live session. */
  has(id: string | undefined): id is string {
    return this.#live(id) !== undefined;
  }

  close(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }

  setOutcome(id: string, outcome: ActionOutcome): void {
    const session = this.#live(id);
    if (session !== undefined) session.outcome = outcome;
  }

  /** The outcome to show once, removed from the session. */
  takeOutcome(id: string | undefined): ActionOutcome | undefined {
    const session = this.#live(id);
    const outcome = session?.outcome;
    if (session !== undefined) delete session.outcome;
    return outcome;
  }

  #live(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt > this.now()) return session;
    this.#sessions.delete(id);
    return undefined;
  }

  #prune(): void {
    const now = this.now();
    for (const [id, session] of this.#sessions) if (session.expiresAt <= now) this.#sessions.delete(id);
  }
}
