import { spawn } from 'node:child_process';
import type { StepOutcome } from '@pullback/election';
import type { InstanceConfig } from '@pullback/pipeline';

/**
 * The config's `fence` command (a STONITH hook, docs/election.md "Activation" step 3),
 * run by `/bin/sh -c` with the old active's name, host and port in
 * PULLBACK_FENCE_INSTANCE, PULLBACK_FENCE_HOST and PULLBACK_FENCE_PORT. Anything but
 * exit status 0 within `timeoutMs` fails, with its last line of stderr.
 */
export function runFence(
  command: string,
  oldActive: InstanceConfig | undefined,
  options: { readonly timeoutMs: number },
): Promise<StepOutcome> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        PULLBACK_FENCE_INSTANCE: oldActive?.name ?? '',
        PULLBACK_FENCE_HOST: oldActive?.host ?? '',
        PULLBACK_FENCE_PORT: oldActive === undefined ? '' : String(oldActive.port),
      },
      // Its own process group: on timeout the whole command goes, not only the shell.
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    }, options.timeoutMs);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve({ ok: true });
        return;
      }
      const last = stderr.trim().split('\n').at(-1)?.trim();
      const how = timedOut
        ? `did not finish within ${options.timeoutMs} ms`
        : `exited with status ${code ?? signal}`;
      resolve({ ok: false, reason: `${how}${last ? `: ${last}` : ''}` });
    });
  });
}
