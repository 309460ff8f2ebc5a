import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentReport, Registry } from '@pullback/pipeline';

export interface HeartbeatOptions {
  readonly instance: string;
  readonly registry: Registry;
  /** What to report now (all but `holder` and `at`). */
  readonly report: () => Promise<Pick<AgentReport, 'role' | 'epoch' | 'serverRunning'>>;
  readonly intervalMs: number;
  readonly log?: (line: string) => void;
}

/**
 * Reports the agent to the registry every `intervalMs` (`Registry.reportAgent`), so the
 * election sees an agent that went silent or whose server is down (docs/election.md
 * "Failure detection", signal B). A report Redis does not take is dropped: the next one
 * says the same, newer; only the first failure of a run of them is logged.
 */
export function startHeartbeat(options: HeartbeatOptions): { stop(): Promise<void> } {
  const abort = new AbortController();
  const holder = `${hostname()}:${process.pid}`;
  let failing = false;
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        const report = await options.report();
        await options.registry.reportAgent(options.instance, {
          holder,
          ...report,
          at: new Date().toISOString(),
        });
        failing = false;
      } catch (error) {
        if (!failing) options.log?.(`cannot report ${options.instance}'s agent: ${(error as Error).message}`);
        failing = true;
      }
      await sleep(options.intervalMs, undefined, { signal: abort.signal }).catch(() => {});
    }
  })();
  return {
    stop: async () => {
      abort.abort();
      await loop;
    },
  };
}
