/**
 * Whether process `pid` exists on this machine, as pg_ctl checks a postmaster.pid:
 * signal 0 tests without signalling.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
