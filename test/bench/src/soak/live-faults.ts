import { setTimeout as sleep } from 'node:timers/promises';
import { isWritable, SANDBOX_COMPONENT } from '@pullback/cli/demo';
import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline';
import type { Fault } from './fault.js';
import { postmasterOf, type SoakWorld, untilValue } from './world.js';

const { activeLeaseMs, failoverDelayMs, failsafeMs, leaderLeaseMs } = ELECTION_SETTING_DEFAULTS;

/** Redis away this long: six leases and failsafe promises and a failover delay (20 s with the defaults), as election-redis-down.test.ts. */
const REDIS_OUTAGE_MS = Number(
  process.env.SOAK_REDIS_OUTAGE_MS ??
    6 * Math.max(activeLeaseMs, failsafeMs, leaderLeaseMs) + failoverDelayMs,
);

/**
 * (5) The active's postmaster alone SIGKILLed, its agent alive: its agent starts it again
 * in place, or, when that takes longer than the delay, the election fails it over and
 * the old active rejoins (docs/election.md "Failure detection"). Either is fine; the
 * round waits until the active and the epoch have held still for twice the delay plus
 * a lease, so a late failover is not missed.
 */
export const serverStopped: Fault = {
  name: 'server stopped',
  run: async (w) => {
    const from = await w.active();
    await w.writer.nextAcknowledgedAfter(Date.now(), 30_000);
    const pid = await postmasterOf(w, from);
    const faultAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const backAt = await w.writer.nextAcknowledgedAfter(faultAt, 120_000);
    const to = await heldStill(w, 2 * failoverDelayMs + activeLeaseMs);
    return {
      outcome: to === from ? 'restarted in place' : `failover ${from} -> ${to}`,
      from,
      to,
      faultAt,
      seconds: (backAt - faultAt) / 1000,
      rpoMs: 1000,
      activations: [0, 1],
      problems: [],
    };
  },
};

/**
 * (6) Redis stopped (its data kept) with every server healthy: no failover can happen
 * and the active must keep taking writes on its failsafe promises. The figure is the
 * longest the client waited between two acknowledged writes meanwhile.
 */
export const redisStopped: Fault = {
  name: 'redis stopped',
  run: async (w) => {
    const before = await w.component();
    const from = before.active ?? '';
    await w.writer.nextAcknowledgedAfter(Date.now(), 30_000);
    const faultAt = Date.now();
    await w.box.redis.halt({ keepData: true });
    // Nothing may ask Redis meanwhile: the writer and the sampler ask PostgreSQL only.
    await sleep(Math.max(0, faultAt + REDIS_OUTAGE_MS - Date.now()));
    await w.box.redis.resume();
    await untilValue(`${from} holding its active lease again`, 120_000, async () =>
      (await w.registry.activeLease(SANDBOX_COMPONENT))?.instance === from ? true : undefined,
    );
    await w.writer.nextAcknowledgedAfter(Date.now(), 30_000);
    const seconds = longestGap(w, faultAt);
    const after = await w.component();
    const problems: string[] = [];
    if (after.active !== from || after.epoch !== before.epoch)
      problems.push(`the active moved: ${from} at ${before.epoch} -> ${after.active} at ${after.epoch}`);
    // A demotion shows as writes refused for about a lease or more.
    if (seconds * 1000 >= activeLeaseMs)
      problems.push(`the client's writes were refused ${seconds.toFixed(1)} s`);
    return {
      outcome: `${problems.length === 0 ? 'no failover, writes went on' : 'broke'} (redis down ${(REDIS_OUTAGE_MS / 1000).toFixed(0)} s)`,
      from,
      to: after.active ?? '',
      faultAt,
      seconds,
      rpoMs: 1000,
      activations: [0],
      problems,
    };
  },
};

/** (7) `pullback switchover` (planned: no write lost). The figure is how long the client's writes were refused. */
export const switchover: Fault = {
  name: 'switchover',
  run: async (w) => {
    const from = await w.active();
    await w.writer.nextAcknowledgedAfter(Date.now(), 30_000);
    const faultAt = Date.now();
    const result = await w.pullback(['switchover', SANDBOX_COMPONENT], 180_000);
    // Its last line says why (the first only that it started).
    if (result.code !== 0) throw new Error(`switchover refused: ${result.output.trim().split('\n').at(-1)}`);
    await w.writer.nextAcknowledgedAfter(Date.now(), 30_000);
    const to = await w.active();
    return {
      outcome: `switched ${from} -> ${to} (command ${((Date.now() - faultAt) / 1000).toFixed(1)} s)`,
      from,
      to,
      faultAt,
      seconds: longestGap(w, faultAt),
      rpoMs: 0,
      activations: [1],
      problems: to === from ? ['the active did not change'] : [],
    };
  },
};

/** The longest time after `since` between two acknowledged writes (s): what the client saw refused. */
function longestGap(w: SoakWorld, since: number): number {
  const times = w.writer.acknowledged.filter((write) => write.at >= since - 1000).map((write) => write.at);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, ((times[i] ?? 0) - (times[i - 1] ?? 0)) / 1000);
  return gap;
}

/** The active once it, the epoch, and its taking writes have held still for `ms`. */
async function heldStill(w: SoakWorld, ms: number): Promise<string> {
  let seen = '';
  let since = Date.now();
  return untilValue('the active held still', 180_000, async () => {
    const { active, epoch } = await w.component();
    const writable = active !== undefined && (await isWritable(w.box, w.port(active)));
    const now = `${active}@${epoch}:${writable}`;
    if (now !== seen) {
      seen = now;
      since = Date.now();
    }
    return writable && Date.now() - since >= ms ? active : undefined;
  });
}
