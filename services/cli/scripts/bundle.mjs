/**
 * Bundles the compiled CLI (dist/main.js) and the archive's worker thread into
 * dist/bundle/, the code bin/pullback.js runs. Node 20 has no compile cache: every
 * `pullback backup` of a cron job would otherwise open, read and compile ~500 modules
 * (a fifth of a second warm, more on a cold page cache) before doing any work. Each
 * command's action stays its own chunk, loaded when that command runs.
 *
 * Left outside: native addons (loaded with `require` of a .node file), and packages
 * that find their own files at run time (pino's transports, BullMQ's scripts,
 * OpenTelemetry's instrumentations, the AWS SDK's credential providers) or that only
 * tests and long-running services load.
 */
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const cli = fileURLToPath(new URL('..', import.meta.url));
const outside = [
  /^@napi-rs\//,
  'lz4-napi',
  'zstd-napi',
  'pg-native',
  /^pino/,
  'thread-stream',
  'bullmq',
  'ioredis',
  'prom-client',
  /^@opentelemetry\//,
  'playwright-core',
  /^@aws-sdk\//,
  /^@smithy\//,
  'zx',
  /^@pullback\/harness/,
];

const out = `${cli}dist/bundle`;
await rm(out, { recursive: true, force: true });
await build({
  cwd: cli,
  input: {
    main: 'dist/main.js',
    // Found beside the chunk that starts the threads (`new URL('./worker-entry.js', import.meta.url)`).
    'worker-entry': fileURLToPath(import.meta.resolve('@pullback/archive/worker-entry')),
  },
  platform: 'node',
  external: outside,
  logLevel: 'warn',
  output: { dir: out, format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
});
