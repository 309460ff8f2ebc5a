/**
 * `promise`, or a rejection with `late()` once `ms` have passed, so that a caller
 * never waits on a server that is away (a scrape, a registry check). The work itself
 * goes on; only the wait ends.
 */
export function within<T>(promise: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
