import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { runTask } from './run-task.js';
import type { Task } from './tasks.js';
import { reviveBuffers, transferList } from './transfer.js';
import { type WorkSetup, workContext } from './work-context.js';

const ctx = workContext(workerData as WorkSetup);

/**
 * lz4-napi and blake-hash return Buffers whose memory V8 does not count, so V8 sees
 * no reason to collect them and the thread's memory grows with the data processed. A
 * collection after every 32 MiB of task input keeps it bounded (a few ms each).
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const COLLECT_EVERY = 32 * 1024 * 1024;
let sinceCollect = 0;

function taskBytes(task: Task): number {
  switch (task.kind) {
    case 'pages':
      return task.length;
    case 'chunks':
      return task.softEnd - task.start;
    case 'write':
      return task.blobs.reduce((sum, blob) => sum + blob.plainLength, 0);
    default:
      return 1024 * 1024;
  }
}

// Tasks run one after another: they share this thread's read buffer.
let queue: Promise<void> = Promise.resolve();

parentPort?.on('message', (message: { id: number; task: Task }) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: { id: number; task: Task }): Promise<void> {
  try {
    const result = await runTask(ctx, reviveBuffers(message.task));
    sinceCollect += taskBytes(message.task);
    if (sinceCollect >= COLLECT_EVERY) {
      sinceCollect = 0;
      collect();
    }
    parentPort?.postMessage({ id: message.id, result }, transferList(result));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    parentPort?.postMessage({
      id: message.id,
      error: { message: e.message, name: e.name, code: e.code, path: e.path, stack: e.stack },
    });
  }
}
