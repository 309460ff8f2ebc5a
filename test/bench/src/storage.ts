/**
 * Storage benchmark: for each driver, stream-write a 1 GiB object through
 * `openBackend` (driver, limit and retry wrappers), stream it back checking every
 * byte, and print throughput and peak resident memory. A streamed object must never
 * be held in memory: the run fails when a driver's peak RSS reaches 150 MB.
 * `PULLBACK_BENCH_BYTES` changes the object size.
 *
 * Each driver is measured in a process of its own that does nothing but open the
 * storage URL, as the CLI would: one run cannot inflate the next one's memory, and
 * the harness (s3rver's start-up, its HTTP readiness checks) stays in this parent.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { openBackend } from '@pullback/storage';
import { RandomishBytes } from './randomish-bytes.js';
import { sampleRss } from './rss-sampler.js';

const MB = 1_000_000;
const RSS_LIMIT = 150 * MB;
const SIZE = Number(process.env.PULLBACK_BENCH_BYTES ?? 1024 ** 3);
const MEASURE_FLAG = '--measure';

interface Row {
  readonly driver: string;
  readonly writeMBps: number;
  readonly readMBps: number;
  /** The measuring process's RSS just before the write. */
  readonly startRss: number;
  readonly peakRss: number;
}

/** The child's side: write and read back one object at `url`. */
async function measure(url: string, signal: AbortSignal): Promise<Omit<Row, 'driver'>> {
  const backend = openBackend(url);
  const bytes = new RandomishBytes();
  const name = 'bench/object';
  const startRss = process.memoryUsage.rss();
  const rss = sampleRss();

  let started = performance.now();
  // A factory, so the retry wrapper may replay it: the same bytes every time.
  await backend.save(name, () => Readable.from(bytes.chunks(SIZE), { objectMode: false }), { signal });
  const writeSeconds = (performance.now() - started) / 1000;

  started = performance.now();
  let position = 0;
  for await (const chunk of await backend.load(name, undefined, { signal })) {
    if (!bytes.matches(chunk as Buffer, position)) throw new Error(`wrong bytes read near ${position}`);
    position += (chunk as Buffer).length;
  }
  const readSeconds = (performance.now() - started) / 1000;
  const peakRss = rss.stop();
  if (position !== SIZE) throw new Error(`read ${position} bytes of ${SIZE}`);

  await backend.remove(name, { signal });
  return { writeMBps: SIZE / MB / writeSeconds, readMBps: SIZE / MB / readSeconds, startRss, peakRss };
}

/** Runs `measure` in a fresh process and returns what it reports. */
async function inChild(driver: string, url: string, env: Record<string, string> = {}): Promise<Row> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), MEASURE_FLAG, url], {
    // The SDK's Node 20 end-of-support notice would interrupt the table.
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const last = output.trim().split('\n').at(-1);
  if (code !== 0 || last === undefined || last === '')
    throw new Error(`the ${driver} run failed (exit ${code})`);
  return { driver, ...(JSON.parse(last) as Omit<Row, 'driver'>) };
}

async function benchFs(): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'pullback-bench-fs-'));
  try {
    return await inChild('fs', dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchS3(): Promise<Row> {
  // Loaded here only: the measuring processes never load the harness.
  const { startS3 } = await import('@pullback/harness');
  const server = await startS3({ buckets: ['bench'] });
  try {
    return await inChild('s3', 's3://bench/run', server.env);
  } finally {
    await server.stop();
  }
}

function table(rows: readonly Row[]): string {
  const header = ['driver', 'write MB/s', 'read MB/s', 'start RSS MB', 'peak RSS MB'];
  const cells = rows.map((row) => [
    row.driver,
    row.writeMBps.toFixed(1),
    row.readMBps.toFixed(1),
    (row.startRss / MB).toFixed(0),
    (row.peakRss / MB).toFixed(0),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((cell) => cell[i]!.length)));
  const line = (cell: readonly string[]) =>
    cell.map((text, i) => (i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const measureAt = process.argv.indexOf(MEASURE_FLAG);
  if (measureAt >= 0) {
    // Ctrl-C reaches the whole process group: stop, and let the parent clean up.
    const interrupt = new AbortController();
    process.once('SIGINT', () => interrupt.abort(new Error('interrupted')));
    const row = await measure(process.argv[measureAt + 1] ?? '', interrupt.signal);
    process.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }

  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
  });
  console.log(
    `storage benchmark: ${(SIZE / 1024 ** 3).toFixed(2)} GiB streamed per driver, node ${process.version}`,
  );
  const rows: Row[] = [];
  for (const bench of [benchFs, benchS3]) {
    rows.push(await bench());
    if (interrupted) throw new Error('interrupted');
  }
  console.log(table(rows));
  console.log('each driver runs in a process of its own; start RSS is that process before the write.');
  console.log('fs reads come from the page cache right after the write; s3 is s3rver 3.7.1 on loopback.');
  const over = rows.filter((row) => row.peakRss >= RSS_LIMIT);
  if (over.length > 0) {
    console.error(`peak RSS reached ${RSS_LIMIT / MB} MB for ${over.map((row) => row.driver).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(`storage benchmark failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
