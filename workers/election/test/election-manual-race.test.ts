import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from '@pullback/harness';
import { describe, expect, it } from 'vitest';
import { electionScene } from './election-scene.js';
import { isWritable, waitLong, watchWritable } from './election-world.js';
import { type CliProcess, killActiveHost, spawnCli } from './race-helpers.js';

const scene = electionScene();

describe('a manual --activate racing an automatic one', () => {
  it('import shop-c --activate --force while the election fails shop-a over to shop-b: the later epoch (the manual one) succeeds, the election is refused in one line, never two writable', async () => {
    const gateDir = await scratchDir('election-manual-race-gate');
    scene.lastly(() => gateDir.remove());
    const gate = join(gateDir.path, 'open');
    // Both activations wait at the fence (after their epochs, before any record) until the gate opens: a true race.
    const w = await scene.ready('election-manual-race', {
      fence: `while [ ! -e ${gate} ]; do sleep 0.05; done`,
    });
    const { a, b, c } = w.members;
    const registry = w.pipeline.registry;
    const election = await scene.election('election-1');
    await waitLong('the election leads and sees shop-a healthy', async () =>
      election.running.leads() && election.verdicts.at(-1)?.state === 'healthy' ? true : undefined,
    );
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      await killActiveHost(w);
      // The election fails shop-a over: its epoch taken (2), it waits at the fence; the user activates shop-c then.
      await waitLong('the election has taken its epoch', async () =>
        (await registry.component('shop'))?.epoch === 2 ? true : undefined,
      );
      const manual = spawnCli(['import', 'shop-c', '--activate', '--force', '--config', w.configPath]);
      scene.afterTest(() => killed(manual));
      await waitLong('the manual activation has taken its epoch', async () =>
        (await registry.component('shop'))?.epoch === 3 ? true : undefined,
      );
      expect(manual.child.exitCode).toBeNull();
      expect(election.failovers).toEqual([]);
      await writeFile(gate, '');
      const code = await manual.exited;
      await waitLong('the failover done', async () => (election.failovers.length > 0 ? true : undefined));
      await waitLong('shop-c takes writes', async () => ((await isWritable(c.port)) ? true : undefined));
      // The election goes on watching the new active, healthy, with no second activation.
      const seen = election.verdicts.length;
      await waitLong('the election sees shop-c healthy a few times', async () =>
        election.verdicts.slice(seen).filter((verdict) => verdict.state === 'healthy').length >= 3
          ? true
          : undefined,
      );
      const { rounds, overlaps } = await writable.stop();
      const output = manual.output();
      console.log(
        `manual --activate race: ${rounds} writability rounds; the CLI said: ${output}the election said: ${election.failovers[0]?.line}\nthe agents said: ${w.agentLines.join('\n')}`,
      );
      expect(overlaps).toBe(0);
      // The later epoch wins: the user's. A warning may follow (shop-b, demoted by its agent, not re-pointed yet).
      expect(code).toBe(0);
      expect(output.split('\n')[0]).toMatch(/^activated shop-c of shop at epoch 3 \(was shop-a\); lost: /);
      for (const line of output.split('\n').slice(1, -1)) expect(line).toMatch(/^pullback: warning: /);
      // The election's is refused in one line.
      expect(election.failovers).toEqual([
        {
          ok: false,
          line: expect.stringMatching(/^failover of shop: cannot activate shop-b of shop: [^\n]+$/),
          epoch: 2,
        },
      ]);
      expect(election.failovers).toHaveLength(1);
      expect(await registry.component('shop')).toMatchObject({ active: 'shop-c', epoch: 3 });
      expect(await registry.activations('shop')).toEqual([
        expect.objectContaining({ epoch: 3, from: 'shop-a', to: 'shop-c', by: 'cli' }),
      ]);
      expect(await isWritable(b.port)).toBe(false);
    } finally {
      await writable.stop();
    }
  });

  it('import shop-c --activate --force held at its fence past the grace, the election then fails shop-a over to shop-b: the later epoch (the election) succeeds, the manual one is refused in one line, never two writable', async () => {
    const gateDir = await scratchDir('election-manual-race-gate');
    scene.lastly(() => gateDir.remove());
    const gate = join(gateDir.path, 'open');
    const w = await scene.ready('election-manual-race-lost', {
      fence: `while [ ! -e ${gate} ]; do sleep 0.05; done`,
    });
    const { a, b, c } = w.members;
    const registry = w.pipeline.registry;
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      await killActiveHost(w);
      // The user activates shop-c first: its epoch taken (2), it waits at the fence.
      const manual = spawnCli(['import', 'shop-c', '--activate', '--force', '--config', w.configPath]);
      scene.afterTest(() => killed(manual));
      await waitLong('the manual activation has taken its epoch', async () =>
        (await registry.component('shop'))?.epoch === 2 ? true : undefined,
      );
      // Then the election starts leading: it holds off while that activation is under way,
      // for its grace (shortened here), then takes the manual one for dead and fails shop-a over.
      const election = await scene.election('election-1', { activationGraceMs: 1000 });
      await waitLong('the election has taken its epoch', async () =>
        (await registry.component('shop'))?.epoch === 3 ? true : undefined,
      );
      expect(manual.child.exitCode).toBeNull();
      expect(election.failovers).toEqual([]);
      await writeFile(gate, '');
      const code = await manual.exited;
      await waitLong('the failover done', async () => (election.failovers.length > 0 ? true : undefined));
      await waitLong('shop-b takes writes', async () => ((await isWritable(b.port)) ? true : undefined));
      const seen = election.verdicts.length;
      await waitLong('the election sees shop-b healthy a few times', async () =>
        election.verdicts.slice(seen).filter((verdict) => verdict.state === 'healthy').length >= 3
          ? true
          : undefined,
      );
      const { rounds, overlaps } = await writable.stop();
      const output = manual.output();
      console.log(
        `manual --activate race, the election winning: ${rounds} writability rounds; the CLI said: ${output}the election said: ${election.failovers[0]?.line}\nthe agents said: ${w.agentLines.join('\n')}`,
      );
      expect(overlaps).toBe(0);
      // The later epoch wins: the election's.
      expect(election.failovers).toEqual([
        {
          ok: true,
          to: 'shop-b',
          epoch: 3,
          line: expect.stringMatching(/^failover of shop: shop-a failed, shop-b is the active at epoch 3; /),
        },
      ]);
      // The user's is refused in one clear line, naming the instance and why.
      expect(code).toBe(1);
      expect(output).toMatch(/^pullback: cannot activate shop-c of shop: [^\n]+\n$/);
      expect(await registry.component('shop')).toMatchObject({ active: 'shop-b', epoch: 3 });
      // One activation happened.
      expect(await registry.activations('shop')).toEqual([
        expect.objectContaining({ epoch: 3, from: 'shop-a', to: 'shop-b', by: 'election-1' }),
      ]);
      expect(await isWritable(c.port)).toBe(false);
    } finally {
      await writable.stop();
    }
  });
});

/** Kills a command still running after its test. */
async function killed(cli: CliProcess): Promise<void> {
  cli.child.kill('SIGKILL');
  await cli.exited;
}
