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

/**
 * pg picks its socket functions at import by asking whether it runs on Cloudflare
 * Workers; on Node 20, which has no `navigator`, it asks by constructing a fetch
 * `Response`, which loads undici: 25-30 ms on every command that talks to PostgreSQL,
 * for a question whose answer here is always no. The bundle answers it.
 */
const pgOnNode = {
  name: 'pg-on-node',
  transform(code, id) {
    if (!id.replaceAll('\\', '/').endsWith('/node_modules/pg/lib/stream.js')) return undefined;
    const probe = 'if (isCloudflareRuntime()) {';
    if (!code.includes(probe))
      throw new Error(`pg/lib/stream.js no longer has "${probe}": look again at this plugin`);
    return code.replace(probe, 'if (false) {');
  },
};

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
  plugins: [pgOnNode],
  logLevel: 'warn',
  output: { dir: out, format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
});
