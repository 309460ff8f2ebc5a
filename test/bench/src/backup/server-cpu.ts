import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
let ticksPerSecond: number | undefined;

/**
 * CPU seconds a PostgreSQL server has used so far: every live process of its tree
 * (postmaster, walsenders, backends, checkpointer) and, through each one's
 * cutime/cstime, its children that have exited (a base backup's walsender, a
 * backend that ran pg_backup_start). The difference before and after a step is the
 * work the step cost the active's host beyond the backup tool's own processes.
 */
export async function serverCpuSeconds(dataDir: string): Promise<number> {
  ticksPerSecond ??= Number((await execFileAsync('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  const postmaster = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const stats = await processStats();
  let ticks = 0;
  const visit = (pid: number) => {
    const stat = stats.get(pid);
    if (stat === undefined) return;
    ticks += stat.ticks;
    for (const [child, childStat] of stats) if (childStat.parent === pid) visit(child);
  };
  visit(postmaster);
  return ticks / ticksPerSecond;
}

async function processStats(): Promise<Map<number, { parent: number; ticks: number }>> {
  const stats = new Map<number, { parent: number; ticks: number }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    // Fields after the command name (which may hold spaces), from state (field 3) on.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((index) => Number(fields[index]));
    stats.set(Number(entry), {
      parent: Number(fields[1]),
      ticks: (utime ?? 0) + (stime ?? 0) + (cutime ?? 0) + (cstime ?? 0),
    });
  }
  return stats;
}
