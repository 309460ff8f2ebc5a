import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, scratchDir, startRedis } from '@pullback/harness';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningElection } from '../src/index.js';
import { type ElectionWorld, isWritable, waitLong, watchWritable } from './election-world.js';
import { type CliProcess, inProcessElection, killActiveHost, readyWorld, spawnCli } from './race-helpers.js';

let redis: RedisServer;
let world: ElectionWorld | undefined;
let gateDir: { path: string; remove(): Promise<void> } | undefined;
const elections: RunningElection[] = [];
const processes: CliProcess[] = [];

beforeEach(async () => {
  redis = await startRedis();
}, 120_000);

afterEach(async () => {
  for (const cli of processes.splice(0)) {
    cli.child.kill('SIGKILL');
    await cli.exited;
  }
  for (const election of elections.splice(0)) await election.close();
  await world?.close();
  world = undefined;
  await gateDir?.remove();
  await redis?.stop();
}, 120_000);

describe('a manual --activate racing an automatic one', () => {
  it('import shop-c --activate --force while the election fails shop-a over to shop-b: exactly one succeeds, the other is refused in one line, never two writable', async () => {
    gateDir = await scratchDir('election-manual-race-gate');
    const gate = join(gateDir.path, 'open');
    // Both activations wait at the fence (after their epochs, before any record) until the gate opens: a true race.
    world = await readyWorld(redis, 'election-manual-race', {
      fence: `while [ ! -e ${gate} ]; do sleep 0.05; done`,
    });
    const w = world;
    const { a, b, c } = w.members;
    const registry = w.pipeline.registry;
    const election = await inProcessElection(w, 'election-1');
    elections.push(election.running);
    await waitLong('the election leads and sees shop-a healthy', async () =>
      election.running.leads() && election.verdicts.at(-1)?.state === 'healthy' ? true : undefined,
    );
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      await killActiveHost(w);
      const manual = spawnCli(['import', 'shop-c', '--activate', '--force', '--config', w.configPath]);
      processes.push(manual);
      await waitLong('both activations have taken an epoch', async () =>
        ((await registry.component('shop'))?.epoch ?? 0) >= 3 ? true : undefined,
      );
      expect(manual.child.exitCode).toBeNull();
      expect(election.failovers).toEqual([]);
      await writeFile(gate, '');
      const code = await manual.exited;
      await waitLong('the failover done', async () => (election.failovers.length > 0 ? true : undefined));
      const automatic = election.failovers[0];
      const winner = code === 0 ? 'shop-c' : 'shop-b';
      const winnerPort = winner === 'shop-b' ? b.port : c.port;
      await waitLong(`${winner} takes writes`, async () =>
        (await isWritable(winnerPort)) ? true : undefined,
      );
      // The election goes on watching the new active, healthy, with no second activation.
      const seen = election.verdicts.length;
      await waitLong('the election sees the new active healthy a few times', async () =>
        election.verdicts.slice(seen).filter((verdict) => verdict.state === 'healthy').length >= 3
          ? true
          : undefined,
      );
      const { rounds, overlaps } = await writable.stop();
      console.log(
        `manual --activate race: ${winner} won; ${rounds} writability rounds; the CLI said: ${manual.output()}`,
      );
      expect(overlaps).toBe(0);
      const output = manual.output();
      if (code === 0) {
        expect(output).toMatch(/^activated shop-c of shop at epoch 3 \(was shop-a\); lost: .*\n$/);
        expect(automatic).toEqual({
          ok: false,
          line: expect.stringMatching(/^failover of shop: cannot activate shop-b of shop: /),
        });
      } else {
        expect(code).toBe(1);
        expect(output).toMatch(/^pullback: cannot activate shop-c of shop: [^\n]+\n$/);
        expect(automatic).toEqual(expect.objectContaining({ ok: true, to: 'shop-b', epoch: 3 }));
      }
      expect(election.failovers).toHaveLength(1);
      const component = await registry.component('shop');
      expect(component).toMatchObject({ active: winner, epoch: 3 });
      expect(await registry.activations('shop')).toEqual([
        expect.objectContaining({ epoch: 3, from: 'shop-a', to: winner }),
      ]);
      expect(await isWritable(winner === 'shop-b' ? c.port : b.port)).toBe(false);
    } finally {
      await writable.stop();
    }
  });
});
