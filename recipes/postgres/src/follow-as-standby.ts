import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setAutoConf } from './auto-conf.js';
import { conninfo, type PgEndpoint } from './connection.js';
import { clearDemotion } from './demote.js';
import { isRoot, serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { forgetPullbackSlots } from './pullback-slots.js';
import { type StartOptions, startServer } from './server-control.js';

/**
 * Starts a former primary, stopped cleanly, again as a standby of `primary`: its
 * primary_conninfo pointed there, `recovery_target_timeline = 'latest'` (it follows the
 * new active's timeline) and standby.signal. Right only when the data directory ends
 * where the new timeline forks: a clean shutdown whose every byte the new active
 * replayed before it was promoted (a switchover); otherwise it needs pg_rewind first.
 * Its port, addresses and sockets stay as they were. A server that runs already (its
 * agent's supervisor started it first) is left as it is.
 */
export async function followAsStandby(
  options: StartOptions & { readonly primary: PgEndpoint },
): Promise<void> {
  const { dataDir } = options;
  if ((await postmasterStatus(dataDir)).running) return;
  const account = await serverAccount(options.osUser);
  await setAutoConf(
    dataDir,
    {
      primary_conninfo: conninfo(options.primary),
      primary_slot_name: '',
      recovery_target_timeline: 'latest',
      hot_standby: 'on',
    },
    account,
  );
  await clearDemotion(options);
  await forgetPullbackSlots(dataDir);
  const signal = join(dataDir, 'standby.signal');
  await writeFile(signal, '', { mode: 0o600 });
  if (isRoot()) await chown(signal, account.uid, account.gid);
  await startServer(options).catch(async (error) => {
    // Started by its supervisor meanwhile: what counts is that it runs.
    if (!(await postmasterStatus(dataDir)).running) throw error;
  });
}
