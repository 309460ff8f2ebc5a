import { readFile } from 'node:fs/promises';

/** The `p`th percentile (nearest rank) of `values`; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Resident memory of process `pid` (and of it, the anonymous part: heap and buffers, not
 * the mapped binary) and, summed, of its children (pg_receivewal), in bytes.
 */
export async function peakRss(pid: number): Promise<{ self: number; selfAnon: number; children: number }> {
  // Read from /proc, not with pgrep: a process started twice a second from the bench
  // (which also runs the fallbacks' agents) forks it, and after each fork every page the
  // agents write is copied on its first write, which slowed their WAL decoding 4x.
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').then(
    (text) => text.split(' ').filter(Boolean).map(Number),
    () => [] as number[],
  );
  let childBytes = 0;
  for (const child of children) childBytes += (await rssOf(child)).rss;
  const self = await rssOf(pid);
  return { self: self.rss, selfAnon: self.anon, children: childBytes };
}

async function rssOf(pid: number): Promise<{ rss: number; anon: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}
