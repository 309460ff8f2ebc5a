/**
 * One read shared by every caller within `maxAgeMs` of its start: a scrape asks each
 * gauge in turn (prom-client calls every `collect` at once), and they all take the
 * same registry read.
 */
export function sharedRead<T>(read: () => Promise<T>, maxAgeMs: number): () => Promise<T> {
  let last: { readonly value: Promise<T>; readonly at: number } | undefined;
  return () => {
    const now = Date.now();
    if (last === undefined || now - last.at >= maxAgeMs) last = { value: read(), at: now };
    return last.value;
  };
}

/** `promise`, or a rejection naming `what` once `ms` passed: a scrape never hangs on a server away. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
