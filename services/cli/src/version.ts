import { readFileSync } from 'node:fs';

/**
 * The CLI package's version, read at run time from its package.json (outside the
 * compiled rootDir): one level above dist/version.js, two above a chunk of the bundle
 * in dist/bundle/ that bin/pullback.js runs.
 */
export function cliVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    let text: string;
    try {
      text = readFileSync(new URL(relative, import.meta.url), 'utf8');
    } catch {
      continue;
    }
    const { name, version } = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (name === '@pullback/cli') return typeof version === 'string' ? version : 'unknown';
  }
  return 'unknown';
}
