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
