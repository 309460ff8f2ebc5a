#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2
// The repository's `pullback` (package.json "bin"): the CLI package's build does the work,
// bundled (services/cli/scripts/bundle.mjs says why).
// The shebang gives V8 a small young generation: backups and restores churn through
// short-lived buffers, and the default semi-spaces let tens of MB of them pile up
// between collections (a 2.3 GB tree backup peaks at 264 MB instead of 329 MB, no
// slower). MALLOC_ARENA_MAX=2 keeps glibc from giving each worker thread malloc arenas
// of its own, where freed buffers stay resident: an incremental over scattered changes
// at pgbench scale 100 peaked at 336 MB without it, 301 MB with it, no slower. Both
// must be set at startup; `node bin/pullback.js` runs without them.
const main = new URL('../services/cli/dist/bundleA/main.js', import.meta.url);
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
