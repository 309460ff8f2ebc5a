import { type RedisServer, startRedis } from '@pullback/harness';
import { afterEach, beforeEach } from 'vitest';
import type { ElectionOptions, RunningElection } from '../src/index.js';
import { type ElectionWorld, electionWorld, type WorldOptions } from './election-world.js';
import { inProcessElection, readyWorld } from './race-helpers.js';

/**
 * What one test of this package starts: its own redis-server before it, and after it
 * everything it left running stopped (its own first steps, its election workers, its
 * world, its Redis, its last steps), whether it passed or not.
 */
export interface ElectionScene {
  /** This test's redis-server. */
  readonly redis: RedisServer;
  /** The world `ready` made for this test, if any. */
  readonly world: ElectionWorld | undefined;
  /** `electionWorld` on this test's Redis, as it starts: nothing written, reported or held yet. */
  newWorld(label: string, options?: WorldOptions): Promise<ElectionWorld>;
  /** `readyWorld` on this test's Redis: a write seen by both fallbacks, both healthy, shop-a holding its lease. */
  ready(label: string, options?: WorldOptions): Promise<ElectionWorld>;
  /** `inProcessElection` on this test's world, stopped after the test. */
  election(
    holder: string,
    options?: Pick<ElectionOptions, 'activationGraceMs'>,
  ): ReturnType<typeof inProcessElection>;
  /** A step for after the test, run before the election workers stop (processes to kill). */
  afterTest(step: () => Promise<void>): void;
  /** A step for after everything else stopped (a directory the fence command waits on). */
  lastly(step: () => Promise<void>): void;
}

/** Registers the hooks of an ElectionScene in the calling test file. */
export function electionScene(): ElectionScene {
  let redis: RedisServer | undefined;
  let world: ElectionWorld | undefined;
  const elections: RunningElection[] = [];
  const steps: (() => Promise<void>)[] = [];
  const lastSteps: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    redis = await startRedis();
  }, 120_000);
  // Stopping three servers, their agents and the elections: a server caught mid-rewind or
  // mid-recovery may take pg_ctl's whole wait to stop, and a CI run (ci17, 2026-12-07)
  // ran out of 120 s here after the test itself had passed.
  afterEach(async () => {
    for (const step of steps.splice(0)) await step();
    for (const election of elections.splice(0)) await election.close();
    await world?.close();
    world = undefined;
    await redis?.stop();
    for (const step of lastSteps.splice(0)) await step();
  }, 300_000);
  const theRedis = (): RedisServer => {
    if (redis === undefined) throw new Error('the scene starts its Redis before each test');
    return redis;
  };
  const theWorld = (): ElectionWorld => {
    if (world === undefined) throw new Error('the scene has no world yet: call ready() first');
    return world;
  };
  return {
    get redis() {
      return theRedis();
    },
    get world() {
      return world;
    },
    newWorld: async (label, options = {}) => {
      world = await electionWorld(theRedis(), label, options);
      return world;
    },
    ready: async (label, options = {}) => {
      world = await readyWorld(theRedis(), label, options);
      return world;
    },
    election: async (holder, options = {}) => {
      const worker = await inProcessElection(theWorld(), holder, options);
      elections.push(worker.running);
      return worker;
    },
    afterTest: (step) => {
      steps.push(step);
    },
    lastly: (step) => {
      lastSteps.push(step);
    },
  };
}
