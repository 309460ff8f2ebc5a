import { SANDBOX_COMPONENT } from '@pullback/cli/demo';
import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline';
import { agentSilent, type Fault, hostDeath } from './fault.js';
import { untilValue } from './world.js';

const { agentSilentMs, leaderLeaseMs } = ELECTION_SETTING_DEFAULTS;

/** The faults around a host death: each ends with a new active and the old host's agent started again. */
const deathResult = (
  death: Awaited<ReturnType<typeof hostDeath>>,
  extra: string,
  problems: string[] = [],
) => ({
  outcome: `failover ${death.from} -> ${death.to}${extra === '' ? '' : `; ${extra}`}`,
  from: death.from,
  to: death.to,
  faultAt: death.killedAt,
  seconds: death.seconds,
  rpoMs: 1000,
  activations: [1],
  problems,
});

/** (1) The active's host dies: agent and postmaster SIGKILLed together. */
export const hostDies: Fault = {
  name: 'host death',
  run: async (w) => deathResult(await hostDeath(w), ''),
};

/**
 * (2) The election leader SIGSTOPped once the dead active's agent is silent (mid-detection),
 * held past its lease until the other election worker has failed the active over, then
 * resumed: it must not act on its stale view (the round's one activation says so).
 */
export const leaderPaused: Fault = {
  name: 'leader paused',
  run: async (w) => {
    const death = await hostDeath(w, async ({ from }) => {
      const holder = await untilValue(
        'an election leader',
        30_000,
        async () => (await w.registry.leader())?.holder,
      );
      const pid = Number(holder.split(':').at(-1));
      const known = [w.secondElection.pid, ...w.hosts.processes().map((process) => process.pid)];
      if (!known.includes(pid)) throw new Error(`the leader ${holder} is none of the soak's processes`);
      await agentSilent(w, from, agentSilentMs);
      process.kill(pid, 'SIGSTOP');
      const pausedAt = Date.now();
      try {
        await untilValue('another election worker leading and a new active named', 120_000, async () => {
          const [leader, component] = await Promise.all([w.registry.leader(), w.component()]);
          return leader !== undefined && leader.holder !== holder && component.active !== from
            ? true
            : undefined;
        });
        // Past its lease by then; held a lease longer so its stale view is old on resuming.
        await untilValue('twice the leader lease since the pause', 30_000, async () =>
          Date.now() - pausedAt >= 2 * leaderLeaseMs ? true : undefined,
        );
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const role = pid === w.secondElection.pid ? 'up --roles election' : 'the pull side';
      return `leader ${role} paused ${((Date.now() - pausedAt) / 1000).toFixed(1)} s`;
    });
    return deathResult(death, death.note);
  },
};

/**
 * (3) Redis stopped (its data saved) and started again in the middle of the failover:
 * alternately inside the failover delay (the dead agent silent) and just after the
 * activation took its epoch.
 */
export const redisRestarted: Fault = {
  name: 'redis restart',
  run: async (w, occurrence) => {
    const epochBefore = (await w.component()).epoch;
    const afterEpoch = occurrence % 2 === 1;
    const death = await hostDeath(w, async ({ from, killedAt }) => {
      if (afterEpoch) {
        await untilValue('the activation taking its epoch', 60_000, async () =>
          (await w.component()).epoch > epochBefore ? true : undefined,
        );
      } else {
        await agentSilent(w, from, agentSilentMs);
      }
      const stoppedAt = Date.now();
      await w.box.redis.halt({ keepData: true });
      await w.box.redis.resume();
      const when = afterEpoch ? 'after the activation took its epoch' : 'inside the failover delay';
      return `redis restarted ${when}, ${((stoppedAt - killedAt) / 1000).toFixed(1)} s after the death (down ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s)`;
    });
    return deathResult(death, death.note);
  },
};

/**
 * (4) `pullback import NAME --activate` (no --force) run by hand as soon as the active's
 * host died, again each time it refuses because the dead active still
 * looks healthy (its lease not lapsed yet), while the election fails it over: NAME is
 * the fallback the election would not pick (the lower priority), so the two
 * activations conflict. One wins; the round must record exactly one activation.
 */
export const manualRace: Fault = {
  name: 'manual --activate',
  run: async (w) => {
    const epochBefore = (await w.component()).epoch;
    let manual = { code: -1, output: '' };
    let target = '';
    let tries = 0;
    const death = await hostDeath(w, async ({ from }) => {
      const candidates = w.endpoints.filter((endpoint) => endpoint.name !== from);
      target = [...candidates].sort((x, y) => x.priority - y.priority)[0]?.name ?? '';
      do {
        tries++;
        manual = await w.pullback(['import', target, '--activate'], 180_000);
      } while (manual.code !== 0 && manual.output.includes(`the active ${from} is healthy`) && tries < 30);
      return '';
    });
    const activations = (await w.registry.activations(SANDBOX_COMPONENT)).filter(
      (record) => record.epoch > epochBefore,
    );
    const winner =
      activations.length !== 1 ? 'none' : activations[0]?.by === 'cli' ? 'the manual' : 'the election';
    const epochAfter = (await w.component()).epoch;
    const said = manual.output.split('\n')[0] ?? '';
    const problems: string[] = [];
    if (winner === 'the manual' && manual.code !== 0)
      problems.push(`the manual activation won but exited ${manual.code}`);
    if (winner === 'the election' && manual.code === 0) problems.push(`both say they activated: ${said}`);
    return deathResult(
      death,
      `${winner} won (import ${target} --activate, try ${tries}, exited ${manual.code}: ${said}); epoch ${epochBefore} -> ${epochAfter}`,
      problems,
    );
  },
};
