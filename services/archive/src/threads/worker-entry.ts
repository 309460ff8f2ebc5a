import { parentPort, workerData } from 'node:worker_threads';
import { GarbageBudget } from '../memory/collect-garbage.js';
import type { SealedBlob } from '../pack/blob-entry.js';
import { runTask } from './run-task.js';
import type { Task } from './tasks.js';
import { buffersIn, movableMemory, reviveBuffers } from './transfer.js';
import { type WorkSetup, workContext } from './work-context.js';

const ctx = workContext(workerData as WorkSetup);

/** See `collectGarbage`: a collection after every 8 MiB of task output. */
const garbage = new GarbageBudget(8 * 1024 * 1024);

/**
 * Roughly how much untracked native memory a task left behind: what it compressed or
 * decompressed (the codecs' output buffers), plus a little for its hash digests. Input
 * merely read and hashed leaves almost nothing, so an unchanged file costs no
 * collections.
 */
function garbageOf(task: Task, result: unknown): number {
  // Restore decompresses into this thread's reused buffers; what it does allocate
  // (deciphered bodies, file reads) is ordinary Node memory that V8 counts itself.
  if (task.kind === 'write' || task.kind === 'compare') return 0;
  const DIGESTS = 256 * 1024;
  const produced = result as { blobs?: SealedBlob[]; bundles?: SealedBlob[]; mapBlob?: SealedBlob };
  let bytes = DIGESTS;
  for (const blob of [...(produced.blobs ?? []), ...(produced.bundles ?? [])]) bytes += blob.plainLength;
  // The parent's blobs it opened (decompressed).
  if (task.kind === 'overlay') for (const blob of task.parentBlobs) bytes += blob.plainLength;
  return bytes;
}

// Tasks run one after another: they share this thread's read buffer.
let queue: Promise<void> = Promise.resolve();

parentPort?.on('message', (message: { id: number; task: Task }) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: { id: number; task: Task }): Promise<void> {
  try {
    const result = await runTask(ctx, reviveBuffers(message.task));
    if (garbage.spend(garbageOf(message.task, result))) {
      // Let the finalizers of what was just collected run (they wait for the event
      // loop, which a queue of tasks chained on promises would never reach).
      await new Promise((resolve) => setImmediate(resolve));
    }
    parentPort?.postMessage({ id: message.id, result }, movableMemory(buffersIn(result)));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    parentPort?.postMessage({
      id: message.id,
      error: { message: e.message, name: e.name, code: e.code, path: e.path, stack: e.stack },
    });
  }
}
