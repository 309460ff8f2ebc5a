import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initArchive } from '@pullback/archive';
import { freePort, type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { openPipeline } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN } from './run-cli.js';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;
const running: ChildProcess[] = [];

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-up-election')]);
  const root = scratch.path;
  await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'archive.key') });
  configPath = join(root, 'pullback.yaml');
  // Nothing listens at shop-a or shop-b: the election finds shop-a failed and no fallback fit to take over.
  await writeFile(
    configPath,
    `redis: ${redis.url}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
stateDir: ${join(root, 'state')}
agentToken: agent-token-0123456789
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    wal: { enabled: false }
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/b, priority: 50, agent: { port: ${await freePort()} } }
`,
  );
});

afterAll(async () => {
  for (const up of running) up.kill('SIGKILL');
  await redis?.stop();
  await scratch?.remove();
});

/** `pullback up ARGS` until `until` is in its output; returns the process and a reader of its output. */
async function startUp(args: readonly string[], until: string, config = configPath) {
  const up = spawn(process.execPath, [MAIN, 'up', '--config', config, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(up);
  let output = '';
  up.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  up.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(
    `up ${args.join(' ')} to say "${until}"`,
    async () => {
      if (up.exitCode !== null) throw new Error(`up exited: ${output}`);
      return output.includes(until) ? true : undefined;
    },
    60_000,
  );
  return { up, output: () => output };
}

async function stop(up: ChildProcess): Promise<number | null> {
  up.kill('SIGTERM');
  const [code] = await once(up, 'exit');
  return code as number | null;
}

describe('pullback up runs the election worker', () => {
  it('--roles pull-backup,election: the pull side and the election, which leads and refuses a failover in one line', async () => {
    const { up, output } = await startUp(['--roles', 'pull-backup,election'], 'no fallback can take over');
    expect(output()).toContain('  pull-backup worker  shop: outbox');
    expect(output()).toMatch(/ {2}election worker {5}\S+:\d+: watches each active/);
    expect(output()).not.toContain('export worker');
    expect(output()).not.toContain('import worker');
    // Its stdout is a pipe: JSON lines (services/pipeline/src/log), each message whole in "msg".
    expect(output()).toMatch(/"msg":"\S+:\d+ leads the election"/);
    const refusal =
      'shop-a of shop failed and no fallback can take over: shop-b is not healthy: its import agent has reported nothing';
    expect(output()).toContain(`"msg":"${refusal}"`);
    const records = output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.find((record) => record.msg === refusal)).toMatchObject({
      level: 'info',
      component: 'shop',
    });
    const pipeline = openPipeline({ redis: redis.url });
    try {
      expect((await pipeline.registry.leader())?.holder).toMatch(new RegExp(`:${up.pid}$`));
      expect(await pipeline.registry.activations('shop')).toEqual([]);
      expect((await pipeline.registry.component('shop'))?.active).toBe('shop-a');
    } finally {
      await pipeline.close();
    }
    expect(await stop(up)).toBe(0);
    // Closed cleanly, it gave the lease up.
    const after = openPipeline({ redis: redis.url });
    try {
      expect(await after.registry.leader()).toBeUndefined();
    } finally {
      await after.close();
    }
  });

  it('up alone runs it too; --roles without election does not', async () => {
    const all = await startUp([], 'leads the election');
    expect(all.output()).toContain('  election worker  ');
    expect(await stop(all.up)).toBe(0);
    const pull = await startUp(['--roles', 'pull-backup'], 'running; stop with Ctrl-C');
    expect(pull.output()).not.toContain('election worker');
    expect(pull.output()).not.toContain('leads the election');
    expect(await stop(pull.up)).toBe(0);
  });

  it("up --instance runs no election worker, and its agent keeps the config's election timings", async () => {
    const root = scratch.path;
    const path = join(root, 'instance.yaml');
    await writeFile(
      path,
      `redis: ${redis.url}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
stateDir: ${join(root, 'state-instance')}
agentToken: agent-token-0123456789
election: { activeLeaseMs: 9000 }
components:
  till:
    recipe: postgres
    outbox: ${join(root, 'outbox-till')}
    wal: { enabled: false }
    instances:
      - { name: till-a, role: active, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/till-a, priority: 100, agent: { port: ${await freePort()} } }
      - { name: till-b, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/till-b, priority: 50, agent: { port: ${await freePort()} } }
`,
    );
    const instance = await startUp(['--instance', 'till-a'], 'running; stop with Ctrl-C', path);
    const pipeline = openPipeline({ redis: redis.url });
    try {
      // Taken and renewed with the config's 9 s, not the default 3 s.
      const lease = await waitFor('the active lease of till', () => pipeline.registry.activeLease('till'));
      expect(lease).toMatchObject({ instance: 'till-a', epoch: 1 });
      expect(lease.ttlMs).toBeGreaterThan(3000);
      expect(lease.ttlMs).toBeLessThanOrEqual(9000);
    } finally {
      await pipeline.close();
    }
    expect(instance.output()).not.toContain('election worker');
    expect(instance.output()).not.toContain('leads the election');
    expect(await stop(instance.up)).toBe(0);
  });
});
