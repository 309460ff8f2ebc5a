import { open, readFile, rm } from 'node:fs/promises';
import { PipelineError } from './errors.js';
import { isProcessAlive } from './process-alive.js';

/**
 * Claims a staging directory for this process with an exclusive lock file holding
 * its pid: two pulls of one component on one machine (two workers, or `pullback
 * backup` beside `pullback up`) would otherwise extract into the same directory. A
 * lock file of a process that no longer exists is taken over.
 */
export async function claimStaging(lockFile: string, what: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) {
        throw new PipelineError('busy', `${what}: staging is in use by process ${pid} (${lockFile})`);
      }
      await rm(lockFile, { force: true });
    }
  }
  throw new PipelineError('busy', `${what}: cannot claim ${lockFile}`);
}
