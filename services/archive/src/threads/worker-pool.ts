import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runTask } from './run-task.js';
import type { Task } from './tasks.js';
import { movableMemory, reviveBuffers } from './transfer.js';
import { type WorkContext, type WorkSetup, workContext } from './work-context.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  readonly worker: Worker;
  busy: number;
}

/**
 * Worker threads that hash, cut, compress, seal, open and write. Each worker gets at
 * most two tasks at a time (one running, one ready), so a queue never builds up inside
 * a worker and callers see back-pressure through `run`. With `size` 0 tasks run on the
 * calling thread, which keeps small jobs cheap.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: (() => void)[] = [];
  private nextId = 0;
  private inline: WorkContext | undefined;
  private failure: Error | undefined;
  private inlineQueue: Promise<void> = Promise.resolve();
  private closed = false;

  private wanted: number;
  /** Asked at the first task, when the pool's size was given as a function. */
  private decide: (() => number | undefined) | undefined;

  constructor(
    private readonly setup: WorkSetup,
    wanted: number | (() => number | undefined) = defaultWorkers(),
  ) {
    if (typeof wanted === 'function') {
      this.decide = wanted;
      this.wanted = defaultWorkers();
    } else {
      this.wanted = wanted;
      if (wanted === 0) this.inline = workContext(setup);
    }
  }

  /**
   * The threads start with the first task: each loads the archive's code and native
   * addons, which a backup that finds nothing changed would pay for nothing.
   */
  private start(): void {
    for (let i = 0; i < this.wanted; i++) {
      // A small young generation makes scavenges frequent, and each one frees the large
      // Buffers of finished tasks: without it, garbage waits for a full collection and
      // peak memory grows with throughput rather than with what is in flight.
      const worker = new Worker(workerEntry(), {
        workerData: this.setup,
        resourceLimits: { maxYoungGenerationSizeMb: 2 },
      });
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (message: { id: number; result?: unknown; error?: SerializedError }) => {
        slot.busy--;
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        this.waiting.shift()?.();
        if (!pending) return;
        if (message.error) pending.reject(deserializeError(message.error));
        else pending.resolve(reviveBuffers(message.result));
      });
      worker.on('error', (error) => {
        this.failure = error;
        for (const pending of this.pending.values()) pending.reject(error);
        this.pending.clear();
      });
      this.slots.push(slot);
    }
  }

  /** The threads it runs (0: tasks run on this thread); before a size given as a function is asked, the most it may run. */
  get size(): number {
    return this.wanted;
  }

  /**
   * Runs `task` on a worker. `give` names the task's buffers the caller drops: their
   * memory moves to the worker instead of being copied. Everything else is copied, so
   * the caller may hand the same buffer to many tasks.
   */
  async run<R>(task: Task, give: readonly Uint8Array[] = []): Promise<R> {
    if (this.decide !== undefined) {
      this.wanted = this.decide() ?? this.wanted;
      this.decide = undefined;
      if (this.wanted === 0) this.inline = workContext(this.setup);
    }
    if (this.inline) {
      // Let other async work (saves, reads) interleave with inline tasks.
      // One at a time: inline tasks share the thread's read buffer too.
      const turn = this.inlineQueue.then(() => runTask(this.inline!, task));
      this.inlineQueue = turn.then(
        () => {},
        () => {},
      );
      return (await turn) as R;
    }
    if (this.closed) throw new Error('the worker pool is closed');
    if (this.slots.length === 0) this.start();
    for (;;) {
      if (this.failure) throw this.failure;
      const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (slot.busy < 2) {
        slot.busy++;
        const id = this.nextId++;
        return new Promise<R>((resolve, reject) => {
          this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
          slot.worker.postMessage({ id, task }, movableMemory(give));
        });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
    this.slots.length = 0;
  }
}

interface SerializedError {
  message: string;
  name: string;
  code?: string;
  path?: string;
  stack?: string;
}

function deserializeError(serialized: SerializedError): Error {
  const error = new Error(serialized.message) as NodeJS.ErrnoException;
  error.name = serialized.name;
  if (serialized.code !== undefined) error.code = serialized.code;
  if (serialized.path !== undefined) error.path = serialized.path;
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  return error;
}

/** Two workers on two cores: the main thread only walks, packs and saves. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, cpus().length));
}

/**
 * The compiled worker script. Tests run this package from its TypeScript sources,
 * where no `.js` sits beside this file: they use the build in `dist/` (made by the
 * test setup) instead.
 */
function workerEntry(): URL {
  const here = new URL('./worker-entry.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  return new URL(here.href.replace('/src/threads/', '/dist/threads/'));
}
