import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postmasterStatus, startServer } from '@pullback/recipe-postgres';

/** How the supervisor's reasons start: `cannot start <instance>: <why>`. */
export const CANNOT_START = 'cannot start';

/** How the agent wants its server now: run as the active, as a fallback, or not at all. */
export type WantedServer = 'active' | 'fallback' | 'none';

export interface ServerSupervisorOptions {
  readonly instance: string;
  readonly dataDir: string;
  /** Asked at every poll. */
  readonly wanted: () => WantedServer;
  /** How often postmaster.pid is looked at, in ms. Default: 1000. */
  readonly pollMs?: number;
  /** The first wait after a failed start, doubled after each next one, in ms. Default: 1000. */
  readonly backoffMs?: number;
  /** The longest wait between starts, in ms. Default: 30 000. */
  readonly maxBackoffMs?: number;
  /**
   * Starts the server and waits until it accepts connections; resolves with a reason
   * when it did not start it now (fallback-start.ts; anything else counts as started).
   * Default: recipes/postgres startServer.
   */
  readonly start?: (dataDir: string) => Promise<unknown>;
  /**
   * Brings a data directory without standby.signal back as a running fallback (the
   * old active's rejoin, rejoin.ts); resolves with a reason when it did not try now,
   * throws when it cannot. Default: none, such a directory is only reported.
   */
  readonly rejoin?: () => Promise<string | undefined>;
  /** Told after each failed start (the reason, one line), and once the server runs again (undefined). */
  readonly onUnhealthy?: (reason: string | undefined) => void | Promise<void>;
  readonly log?: (line: string) => void;
}

/**
 * Keeps the instance's PostgreSQL running, as Patroni does (docs/election.md, item 3 of
 * issue 11): started when the agent starts, and again whenever its postmaster is gone,
 * backing off after failed starts. A fallback is started only from a standby's data
 * directory (standby.signal): a former active is never started writable by mistake.
 * It is rewound and started as a standby by `rejoin` instead; when that cannot be
 * done, reseeding it is the import worker's job, this one only reports it.
 */
export class ServerSupervisor {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private failures = 0;
  private unhealthy: string | undefined;
  private starts = 0;

  constructor(private readonly options: ServerSupervisorOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** Why the server cannot be started, while it cannot. */
  get reason(): string | undefined {
    return this.unhealthy;
  }

  /** How many times it started the server. */
  get started(): number {
    return this.starts;
  }

  private async run(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    while (!this.abort.signal.aborted) {
      const failed = await this.poll().catch((error: Error) => {
        this.options.log?.(`supervising ${this.options.instance}: ${error.message}`);
        return false;
      });
      const wait = failed
        ? Math.min(
            (this.options.backoffMs ?? 1000) * 2 ** (this.failures - 1),
            this.options.maxBackoffMs ?? 30_000,
          )
        : pollMs;
      await sleep(wait, undefined, { signal: this.abort.signal }).catch(() => {});
    }
  }

  /** Starts the server when it should run and does not; returns whether a start failed. */
  private async poll(): Promise<boolean> {
    const wanted = this.options.wanted();
    if (wanted === 'none') return false;
    if ((await postmasterStatus(this.options.dataDir)).running) {
      // Started by someone else after a failed start of ours (a switchover or an import
      // starting it at the same moment): the failure reported is over.
      await this.recovered();
      return false;
    }
    const { dataDir, instance } = this.options;
    try {
      if (wanted === 'fallback' && !(await exists(join(dataDir, 'standby.signal')))) {
        if (this.options.rejoin === undefined) {
          throw new Error(
            `${dataDir} is not a standby's data directory (no standby.signal); it needs reseeding`,
          );
        }
        this.options.log?.(`rejoining ${instance} as a fallback (pg_rewind)`);
        const notNow = await this.options.rejoin();
        if (notNow !== undefined) {
          this.options.log?.(`not rejoining ${instance} now: ${notNow}`);
          return false;
        }
      } else {
        this.options.log?.(`starting ${instance} as the ${wanted}`);
        const notNow = await (
          this.options.start ?? ((dir) => startServer({ dataDir: dir, timeoutSeconds: 120 }))
        )(dataDir);
        if (typeof notNow === 'string') {
          this.options.log?.(`not starting ${instance} now: ${notNow}`);
          return false;
        }
      }
    } catch (error) {
      this.failures += 1;
      const reason = `${CANNOT_START} ${instance}: ${(error as Error).message}`;
      this.options.log?.(reason);
      // Told at each failure, not once: a report Redis missed is made again.
      await this.options.onUnhealthy?.(reason);
      this.unhealthy = reason;
      return true;
    }
    this.starts += 1;
    await this.recovered();
    return false;
  }

  /** The server runs: a failure reported before is told to be over. */
  private async recovered(): Promise<void> {
    this.failures = 0;
    if (this.unhealthy === undefined) return;
    this.unhealthy = undefined;
    await this.options.onUnhealthy?.(undefined);
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
