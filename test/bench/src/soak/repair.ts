import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isWritable, SANDBOX_COMPONENT, waitStreaming } from '@pullback/cli/demo';
import { builtInRecipe } from '@pullback/workers';
import type { SoakWorld } from './world.js';

/**
 * What an operator does for a fallback left in recovery but not streaming (seen: an old
 * active whose agent rewound it against the new active before that one was promoted,
 * so pg_rewind found nothing to undo, and it was started as a standby past the fork):
 * its agent stopped, its server stopped cleanly, standby.signal removed, its agent
 * started again, which rewinds it against the active its epoch record names
 * (workers/agent rejoin.ts). The soak counts the round as failed all the same; this
 * only lets the next rounds run on a whole component. Resolves with what it repaired.
 */
export async function repairStuckFallbacks(w: SoakWorld): Promise<string[]> {
  const servers = builtInRecipe('postgres')?.localServers;
  if (servers === undefined) throw new Error('the postgres recipe does not say how it runs its servers');
  const active = await w.active();
  const repaired: string[] = [];
  for (const endpoint of w.endpoints) {
    if (endpoint.name === active) continue;
    const streaming = await waitStreaming(w.box, endpoint.port, 5000).then(
      () => true,
      () => false,
    );
    if (streaming || (await isWritable(w.box, endpoint.port))) continue;
    const dataDir = w.box.config.components[SANDBOX_COMPONENT]?.instances.find(
      (instance) => instance.name === endpoint.name,
    )?.dataDir;
    if (dataDir === undefined) continue;
    w.step(`repair: ${endpoint.name} is not streaming; stopping it and letting its agent rewind it`);
    await w.hosts.stopAgent(endpoint.name);
    await servers.stop(dataDir, { timeoutSeconds: 60 });
    await rm(join(dataDir, 'standby.signal'), { force: true });
    await w.hosts.startAgent(endpoint.name);
    repaired.push(endpoint.name);
  }
  return repaired;
}
