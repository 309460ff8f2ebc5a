import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  type S3Server,
  scratchDir,
  startPostgres,
  startRedis,
  startS3,
  waitFor,
} from '@pullback/harness';
import { type FullStatus, openPipeline, type Pipeline } from '@pullback/pipeline';
import { stopServer } from '@pullback/recipe-postgres';
import { expect } from 'vitest';
import { type CliProcess, startCli } from './cli-process.js';
import { runCli } from './run-cli.js';

/**
 * A pipeline as a user runs one on a machine: Redis, an S3 archive (s3rver, bucket
 * `label`), component `shop` with its active (the harness's server, a `marker` table)
 * and two fallbacks, shop-b and shop-c, that `pullback up`'s imports seed.
 */
export interface PipelineWorld {
  readonly redis: RedisServer;
  readonly s3: S3Server;
  readonly active: PostgresServer;
  readonly root: string;
  readonly configPath: string;
  /** The registry and queues, read as `status` does. */
  readonly pipeline: Pipeline;
  /** The data directories of shop-b and shop-c. */
  readonly fallbackDirs: readonly [string, string];
  /** The port of the config's `http:` key, when the world has one. */
  readonly httpPort: number | undefined;
  /** `pullback up` on the config, with the archive's credentials, once it says it runs; stopped by close. */
  startUp(): Promise<CliProcess>;
  /** `export shop --now`, then the status once both fallbacks are healthy at the new snapshot. */
  cycle(): Promise<FullStatus>;
  close(): Promise<void>;
}

export async function startPipelineWorld(
  label: string,
  options: { readonly http?: boolean } = {},
): Promise<PipelineWorld> {
  const [redis, s3, active, scratch] = await Promise.all([
    startRedis(),
    startS3({ buckets: [label] }),
    startPostgres(),
    scratchDir(`cli-${label}`),
  ]);
  await active.psql(`create table marker (status text); insert into marker values ('first')`);
  const root = scratch.path;
  await chmod(root, 0o755);
  const socketDir = join(root, 'socket');
  await mkdir(socketDir);
  const owner = await postgresOwner();
  if (owner) await chown(socketDir, owner.uid, owner.gid);
  const keyFile = join(root, 'archive.key');
  const archive = `s3://${label}/history`;
  const init = await runCli(['archive', 'init', '--archive', archive, '--key-file', keyFile], {
    env: s3.env,
  });
  expect(init.stderr).toBe('');
  const fallbackDirs = [join(root, 'b'), join(root, 'c')] as const;
  const httpPort = options.http === true ? await freePort() : undefined;
  const configPath = join(root, 'pullback.yaml');
  await writeFile(
    configPath,
    `redis: ${redis.url}
archive: { url: ${archive}, keyFile: ${keyFile} }
stateDir: ${join(root, 'state')}
${httpPort === undefined ? '' : `http: { port: ${httpPort} }`}
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: ${fallbackDirs[0]}, priority: 50 }
      - { name: shop-c, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: ${fallbackDirs[1]}, priority: 40 }
`,
  );
  const pipeline = openPipeline({ redis: redis.url });
  const ups: CliProcess[] = [];
  return {
    redis,
    s3,
    active,
    root,
    configPath,
    pipeline,
    fallbackDirs,
    httpPort,
    startUp: async () => {
      const up = startCli(['up', '--config', configPath], { ...s3.env, PULLBACK_PG_SOCKET_DIR: socketDir });
      ups.push(up);
      await up.waitForOutput(/running; stop with Ctrl-C/);
      return up;
    },
    cycle: async () => {
      const queued = await runCli(['export', 'shop', '--now', '--config', configPath]);
      expect(queued.stderr).toBe('');
      return waitFor(
        'both fallbacks healthy at the new snapshot',
        async () => {
          const status = await pipeline.readStatus();
          return settled(status) ? status : undefined;
        },
        240_000,
        500,
      );
    },
    close: async () => {
      for (const up of ups) await up.stop('SIGKILL');
      await pipeline.close();
      for (const dataDir of fallbackDirs) await stopServer({ dataDir }).catch(() => {});
      await active.stop();
      await Promise.all([redis.stop(), s3.stop()]);
      await scratch.remove();
    },
  };
}

/** Both fallbacks healthy at the last snapshot, and no job waiting or running. */
function settled(status: FullStatus): boolean {
  const shop = status.components.find((component) => component.name === 'shop');
  const fallbacks = shop?.instances.filter((instance) => instance.role === 'fallback') ?? [];
  const busy = Object.values(status.queues).some((queue) => queue.waiting + queue.active > 0);
  return !busy && fallbacks.length === 2 && fallbacks.every((f) => f.atLastSnapshot && f.state?.healthy);
}
