import { readFile, writeFile } from 'node:fs/promises';
import type { Registry } from '@pullback/pipeline';
import { until } from './failover-ending.js';
import type { SandboxHosts } from './hosts.js';
import { SANDBOX_COMPONENT, type Sandbox } from './sandbox.js';

/**
 * Switches the sandbox's WAL receiver to synchronous mode, or back (docs/wal.md
 * "`wal.synchronous`"): the component's `wal:` line in pullback.yaml is rewritten and
 * the pull side (`pullback up --roles pull-backup,election`, the only process that
 * reads it) is started again. Resolves once the receiver reports streaming in that
 * mode from the active (pg_stat_replication: `sync` when synchronous) and an election
 * worker leads again.
 */
export async function setWalSynchronous(
  box: Sandbox,
  hosts: SandboxHosts,
  registry: Registry,
  synchronous: boolean,
): Promise<void> {
  const text = await readFile(box.configPath, 'utf8');
  const lines = text.split('\n').filter((line) => !line.startsWith('    wal: '));
  const recipe = lines.indexOf('    recipe: postgres');
  if (recipe < 0) throw new Error(`no "recipe: postgres" line in ${box.configPath}`);
  lines.splice(recipe + 1, 0, `    wal: { synchronous: ${synchronous} }`);
  await writeFile(box.configPath, lines.join('\n'));
  await hosts.stopAgent('pull-side');
  await hosts.startPullSide();
  await until(`the wal receiver streaming ${synchronous ? '' : 'a'}synchronously`, 120_000, async () => {
    const component = await registry.component(SANDBOX_COMPONENT);
    const receiver = component?.walReceiver;
    return (
      receiver?.streaming === true &&
      receiver.synchronous === synchronous &&
      receiver.source === component?.active &&
      Date.parse(receiver.updatedAt) > Date.now() - 5000
    );
  });
  await until('an election leader', 60_000, async () => (await registry.leader()) !== undefined);
}
