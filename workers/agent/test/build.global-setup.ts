import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Builds dist/ before the tests that run the pull side as a process (helpers/cas-child.mjs).
 * turbo's test task builds only the dependencies (^build), and a stale dist would test old code.
 */
export default function buildWorkers(): void {
  const packageDir = fileURLToPath(new URL('..', import.meta.url));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: packageDir, stdio: 'inherit' });
}
