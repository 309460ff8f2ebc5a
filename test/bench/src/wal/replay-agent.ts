/**
 * The fallback's agent half of a replay from the archive, as its own process (as
 * `pullback up --instance` runs it next to a fallback, not inside the bench, whose
 * pgbench drivers, samplers and other agents would share its event loop and heap):
 * keeps the spool filled through the fallbacks' prefetcher until SIGTERM, then prints
 * where its time went as one JSON line.
 *
 * A line `start` on stdin says the server is starting: the prefetch is told where
 * recovery begins, as the import worker tells it before it starts a restored fallback.
 *
 *   node replay-agent.js ARCHIVE KEY_FILE STREAM SPOOL_DIR DATA_DIR
 */
import { createInterface } from 'node:readline';
import { fetchWalFile, openArchive } from '@pullback/archive';
import { startWalPrefetch } from '@pullback/pipeline';
import { walSpoolOf } from '@pullback/recipe-postgres';

const [archiveUrl, keyFile, stream, dir, dataDir] = process.argv.slice(2);
if (
  archiveUrl === undefined ||
  keyFile === undefined ||
  stream === undefined ||
  dir === undefined ||
  dataDir === undefined
) {
  throw new Error('usage: replay-agent ARCHIVE KEY_FILE STREAM SPOOL_DIR DATA_DIR');
}
const archive = await openArchive({ archive: archiveUrl, keyFile });
const fetches: { name: string; ms: number; at: number; asked: boolean }[] = [];
const begun = performance.now();
const prefetch = startWalPrefetch({
  dir,
  // Knobs for trying other depths; the agent's defaults otherwise.
  ...(process.env.BENCH_PREFETCH_AHEAD ? { ahead: Number(process.env.BENCH_PREFETCH_AHEAD) } : {}),
  ...(process.env.BENCH_PREFETCH_PARALLEL ? { parallel: Number(process.env.BENCH_PREFETCH_PARALLEL) } : {}),
  ...(process.env.BENCH_PREFETCH_SPARES ? { spares: Number(process.env.BENCH_PREFETCH_SPARES) } : {}),
  fetch: async (name, options) => {
    const started = performance.now();
    const file = await fetchWalFile(archive, stream, name, options);
    // Fetches ahead decode into the agent's buffers; one the command asked for (or the first) does not.
    fetches.push({
      name,
      ms: performance.now() - started,
      at: started - begun,
      asked: options.buffers === undefined,
    });
    return (
      file && { content: file.content, segmentSize: file.header.segmentSize, partial: file.header.partial }
    );
  },
  onError: (error) => process.stderr.write(`bench: archived WAL: ${error.message}\n`),
});
/** The CPU used before the server started (loading, making spares): not the replay's. */
let beforeStart: NodeJS.CpuUsage | undefined;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'start') return;
  beforeStart = process.cpuUsage();
  void walSpoolOf(dataDir).then(({ recoveryStart }) => {
    if (recoveryStart !== undefined) prefetch.expect(recoveryStart.segment, recoveryStart.segmentSize);
  });
});
// Ready once the spares are made, as an agent long up beside its fallback has them.
await prefetch.ready;
process.stdout.write('ready\n');
// The prefetcher's timer does not keep a process alive (it lives beside other work in
// an agent): this one does, until SIGTERM.
const alive = setInterval(() => {}, 60_000);
process.once('SIGTERM', () => {
  clearInterval(alive);
  void prefetch.stop().then(() => {
    const cpu = process.cpuUsage(beforeStart);
    process.stdout.write(
      `${JSON.stringify({ seconds: (performance.now() - begun) / 1000, user: cpu.user / 1e6, system: cpu.system / 1e6, fetches })}\n`,
    );
    process.exit(0);
  });
});
