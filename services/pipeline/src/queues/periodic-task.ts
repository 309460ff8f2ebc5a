/** A task run every so often until stopped (see `startPeriodicTask`). */
export interface PeriodicTask {
  /**
   * Stops the task: no round starts any more, the round under way is aborted and
   * awaited. Once it resolves, nothing the task uses (a Redis connection, a server)
   * is used by it again, so it may be closed.
   */
  stop(): Promise<void>;
}

/**
 * Runs `round` every `intervalMs`, one round at a time: the next is scheduled when
 * the last has ended, so rounds slower than the interval (a loaded machine, a server
 * slow to answer) never pile up. A round's failure goes to `onError` and the next
 * round runs as usual; a round aborted by `stop` is no failure.
 */
export function startPeriodicTask(
  intervalMs: number,
  round: (signal: AbortSignal) => Promise<void>,
  onError: (error: Error) => void,
): PeriodicTask {
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let underWay: Promise<void> = Promise.resolve();
  const schedule = () => {
    timer = setTimeout(() => {
      underWay = round(stopping.signal)
        .catch((error: Error) => {
          if (!stopping.signal.aborted) onError(error);
        })
        .finally(() => {
          if (!stopping.signal.aborted) schedule();
        });
    }, intervalMs);
    // A periodic report never keeps a process alive on its own.
    timer.unref();
  };
  schedule();
  return {
    stop: async () => {
      stopping.abort(new Error('stopped'));
      clearTimeout(timer);
      await underWay;
    },
  };
}
