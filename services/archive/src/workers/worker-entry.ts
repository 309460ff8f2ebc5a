import { parentPort, workerData } from 'node:worker_threads';
import { runTask } from './run-task.js';
import type { Task } from './tasks.js';
import { reviveBuffers, transferList } from './transfer.js';
import { type WorkSetup, workContext } from './work-context.js';

const ctx = workContext(workerData as WorkSetup);

parentPort?.on('message', (message: { id: number; task: Task }) => {
  try {
    const result = runTask(ctx, reviveBuffers(message.task));
    parentPort?.postMessage({ id: message.id, result }, transferList(result));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    parentPort?.postMessage({
      id: message.id,
      error: { message: e.message, name: e.name, code: e.code, path: e.path, stack: e.stack },
    });
  }
});
