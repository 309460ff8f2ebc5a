/*
 * Preloaded into the pull side (`--import`) when BENCH_RSS_LOG is set: appends what its
 * memory is made of (V8's heap by space, buffers) every 500 ms, to read beside its RSS.
 */
import { appendFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

const file = process.env.BENCH_MEMORY_PROBE_FILE;
const MB = 1e6;
// Worker threads load it too (NODE_OPTIONS): their heaps are their own, the process's is the main thread's.
if (file !== undefined && isMainThread) {
  const started = Date.now();
  setInterval(() => {
    const usage = process.memoryUsage();
    const spaces = getHeapSpaceStatistics()
      .map((space) => `${space.space_name.replace('_space', '')} ${(space.space_size / MB).toFixed(1)}`)
      .join(' ');
    appendFileSync(
      file,
      `${process.pid} ${((Date.now() - started) / 1000).toFixed(1)} rss ${(usage.rss / MB).toFixed(1)} heapTotal ${(usage.heapTotal / MB).toFixed(1)} heapUsed ${(usage.heapUsed / MB).toFixed(1)} external ${(usage.external / MB).toFixed(1)} arrayBuffers ${(usage.arrayBuffers / MB).toFixed(1)} | ${spaces}\n`,
    );
  }, 500).unref();
}
