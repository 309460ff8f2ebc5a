#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2
/*
 * The `pullback` executable. It runs on import, with no "am I the main module"
 * check, because it is reached three ways: as node_modules/.bin/pullback, as
 * `node dist/main.js`, and bundled (dist/bundle/main.js) by the repository's bin/pullback.js. The
 * library entry without side effects is index.ts.
 */
import { run } from './run.js';
import { stopOnSignals } from './stop-signals.js';

// The AWS SDK warns on Node 20 that its releases after January 2027 will need Node 22.
// The lockfile pins releases that support Node 20, and a multi-line warning on stderr
// would break the one-line error contract; users who care set the variable to "false".
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `pullback snapshots | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const stop = stopOnSignals(process.stderr);
const status = await run(process.argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: stop.signal,
});
// A command cut short by a signal says which; one that still ended well (`up`, whose
// normal end is SIGTERM) exits 0, as service managers expect.
process.exitCode = status === 0 ? 0 : (stop.exitCode() ?? status);
