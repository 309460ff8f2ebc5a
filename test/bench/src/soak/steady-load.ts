import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Sandbox } from '@pullback/cli/demo';

/**
 * pgbench through the multi-host string at `rate` transactions per second, 2 clients,
 * started again whenever it ends (it gives up on a connection that dies with the host).
 * The same load as bench:failover's (test/bench/src/failover.ts), which runs its bench
 * when imported, so it cannot be shared from there.
 */
export function steadyLoad(box: Sandbox, uri: string, rate: number): { stop(): Promise<void> } {
  let stopped = false;
  let child: ChildProcess | undefined;
  const loop = (async () => {
    while (!stopped) {
      child = spawn(
        join(box.active.binDir, 'pgbench'),
        ['-n', '-c', '2', '-R', String(rate), '-T', '3600', uri],
        { stdio: 'ignore' },
      );
      await new Promise((resolve) => child?.once('exit', resolve));
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      child?.kill('SIGTERM');
      await loop;
    },
  };
}
