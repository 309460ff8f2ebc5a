import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Archive, initArchive } from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  quietSchedule,
  scratchDir,
  startPostgres,
  waitFor,
} from '@pullback/harness';
import { type Config, parseConfig } from '@pullback/pipeline';
import { stopServer } from '@pullback/recipe-postgres';
import { onTestFinished } from 'vitest';
import { type StartAllOptions, startAll } from '../src/index.js';

const execFileAsync = promisify(execFile);

/** Waits in these tests allow for a loaded machine. */
export const waitLong = <T>(what: string, check: () => Promise<T | undefined>) =>
  waitFor(what, check, 240_000);

/** One test's own world: scratch directory, archive, Redis namespace; removed when the test ends. */
export interface TestWorld {
  readonly root: string;
  readonly archive: Archive;
  readonly archiveYaml: string;
  readonly prefix: string;
  /** Runs at the end of the test, the last registered first. */
  cleanup(step: () => Promise<unknown>): void;
}

export async function testWorld(label: string): Promise<TestWorld> {
  const scratch = await scratchDir(label);
  const steps: (() => Promise<unknown>)[] = [() => scratch.remove()];
  onTestFinished(async () => {
    for (const step of steps.reverse()) await step().catch(() => {});
  });
  const root = scratch.path;
  // Fallback data directories and sockets live here: the postgres account must reach them.
  const owner = await postgresOwner();
  await mkdir(join(root, 'socket'));
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chown(join(root, 'socket'), owner.uid, owner.gid);
  }
  const { archive } = await initArchive({
    archive: join(root, 'archive'),
    keyFile: join(root, 'archive.key'),
  });
  return {
    root,
    archive,
    archiveYaml: `{ url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }`,
    prefix: `t${randomUUID().slice(0, 8)}`,
    cleanup: (step) => steps.push(step),
  };
}

/** A test's own PostgreSQL active (pgbench -s 1, a `marker` table reading 'first') and fallback slots. */
export interface ShopCluster {
  readonly active: PostgresServer;
  readonly fallbacks: readonly { readonly name: string; readonly port: number; readonly dataDir: string }[];
  /** The `shop` component's YAML (2-space indented under `components:`). */
  readonly yaml: string;
}

export async function shopCluster(
  world: TestWorld,
  /** `schedule`: the component's cron; by default one that does not fire during the test. */
  options: {
    fallbacks: number;
    schedule?: string;
    keepLast?: number;
    /** More postgresql.conf settings of the active. */
    settings?: Readonly<Record<string, string>>;
    /** The component's `physical.ownBackup`. Default: unset (the agent's own backup). */
    ownBackup?: boolean;
  },
): Promise<ShopCluster> {
  const active = await startPostgres(options.settings === undefined ? {} : { settings: options.settings });
  world.cleanup(() => active.stop());
  await execFileAsync(join(active.binDir, 'pgbench'), [
    '-i',
    '-s',
    '1',
    '-q',
    '-d',
    active.connectionString(),
  ]);
  await active.psql(`create table marker (status text); insert into marker values ('first')`);
  const fallbacks = [];
  for (const letter of ['b', 'c', 'd'].slice(0, options.fallbacks)) {
    const dataDir = join(world.root, letter);
    fallbacks.push({ name: `shop-${letter}`, port: await freePort(), dataDir });
    world.cleanup(() => stopServer({ dataDir }));
  }
  const yaml = `
  shop:
    recipe: postgres
    ${options.keepLast === undefined ? '' : `retention: { keepLast: ${options.keepLast} }`}
    ${options.ownBackup === undefined ? '' : `physical: { ownBackup: ${String(options.ownBackup)} }`}
    outbox: ${join(world.root, 'outbox', 'shop')}
    schedule: "${options.schedule ?? quietSchedule()}"
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
${fallbacks.map((f, i) => `      - { name: ${f.name}, role: fallback, host: 127.0.0.1, port: ${f.port}, dataDir: ${f.dataDir}, priority: ${50 - i} }`).join('\n')}
`;
  return { active, fallbacks, yaml };
}

export function worldConfig(world: TestWorld, redisUrl: string, components: string): Config {
  return parseConfig(`
redis: ${redisUrl}
archive: ${world.archiveYaml}
stateDir: ${join(world.root, 'state')}
components:${components}`);
}

/** `startAll` in the world's namespace and directories, closed when the test ends. */
export async function startInWorld(world: TestWorld, config: Config, options: StartAllOptions = {}) {
  const running = await startAll(config, {
    prefix: world.prefix,
    archive: world.archive,
    stagingDir: join(world.root, 'staging'),
    retry: { attempts: 3, backoffMs: 500 },
    postgres: { socketDir: join(world.root, 'socket') },
    positionIntervalMs: 1000,
    ...options,
  });
  // Before the servers it reports on stop (registered after them, so run first).
  world.cleanup(() => running.close());
  return running;
}
