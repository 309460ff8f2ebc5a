import { readFileSync } from 'node:fs';

/**
 * The CLI package's version. Read at run time from the package.json next to
 * dist/ (it is outside the compiled rootDir), which also holds when main.js is
 * reached through the repository's bin/pullback.js.
 */
export function cliVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const { version } = JSON.parse(text) as { version?: unknown };
  return typeof version === 'string' ? version : 'unknown';
}
