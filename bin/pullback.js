#!/usr/bin/env node
// The repository's `pullback` (package.json "bin"): the CLI package's build does the work.
const main = new URL('../services/cli/dist/main.js', import.meta.url);
try {
  await import(main.href);
} catch (error) {
  // Only main.js itself missing means "not built"; anything else is a real failure.
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && error.url === main.href) {
    process.stderr.write('pullback: not built yet: run "npm run build" (or "bash scripts/setup.sh") first\n');
    process.exit(1);
  }
  throw error;
}
