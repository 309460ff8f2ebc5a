// The pull side as its own process, for tests that kill it: `node pull-side.mjs CONFIG PREFIX`.
// Runs the pull-backup role (with its WAL receivers) of the built package until SIGTERM.
import { loadConfig } from '@pullback/pipeline';
import { startAll } from '@pullback/workers';

const [configPath, prefix] = process.argv.slice(2);
const config = await loadConfig(configPath);
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
const running = await startAll(config, {
  prefix,
  roles: { pull: true },
  signal: stop.signal,
  onError: (error, where) => process.stderr.write(`${where}: ${error.message}\n`),
});
process.stdout.write('started\n');
await running.closed;
