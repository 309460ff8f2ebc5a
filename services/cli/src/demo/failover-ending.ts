import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { openPipeline, type Pipeline, readWriteConnectionString } from '@pullback/pipeline';
import type { RunningPipeline } from '@pullback/workers';
import { killActiveHost, startDrillWriter, waitStreaming, watchWritable } from './failover.js';
import type { SandboxHosts } from './hosts.js';
import { SANDBOX_COMPONENT, type Sandbox } from './sandbox.js';

const execFileAsync = promisify(execFile);

/**
 * The demo's ending (docs/election.md): the workers of the demo's process stop and
 * each host runs its own `pullback up` (an agent per instance, the pull side with
 * the election); a client writes through the multi-host connection string; the
 * active's host dies (its agent and PostgreSQL SIGKILLed); the election promotes a
 * fallback; the marker row and every acknowledged write are there; the old active's
 * agent, started again, brings it back as a streaming fallback, never writable.
 */
export async function failoverEnding(
  box: Sandbox,
  running: RunningPipeline,
  hosts: SandboxHosts,
  say: (line: string) => void,
): Promise<void> {
  const { pipeline, endpoints, uri } = await handOverToHosts(box, running, hosts, say);
  try {
    const registry = pipeline.registry;
    await box.active.psql('create table drill (n int primary key)');
    say(`    a client writes a row at a time through ${uri}`);
    const writer = startDrillWriter(box, uri);
    const watch = watchWritable(box, endpoints);
    try {
      const active = async () => (await registry.component(SANDBOX_COMPONENT))?.active;
      // A few seconds of writes first, so the death lands among them.
      await until(
        'writes acknowledged through the connection string',
        60_000,
        async () => writer.acknowledged.length >= 20,
      );
      const death = await killActiveHost(box, hosts, writer, { active, endpoints });
      say(
        `    kill -9 of shop-a's agent and PostgreSQL: the client wrote again, on ${death.to}, ${(death.deathToWritableMs / 1000).toFixed(1)} s later`,
      );
      say(
        `    ${writer.acknowledged.length} writes acknowledged to the client, ${death.lost.length} missing on ${death.to} (${death.lostOutsideRpo.length} older than the 1 s RPO)`,
      );
      const [activation] = await registry.activations(SANDBOX_COMPONENT);
      if (activation !== undefined) {
        say(
          `    activation: epoch ${activation.epoch}, ${activation.from} -> ${activation.to}, ${activation.reason}, by ${activation.by}`,
        );
      }
      const target = endpoints.find((endpoint) => endpoint.name === death.to);
      const marker = await psql(box, target?.port ?? 0, 'select note from marker order by id');
      if (!marker.includes('written after the first snapshot'))
        throw new Error(`${death.to} lacks the marker row`);
      say(`    ${death.to} has the marker row: ${marker.trim().split('\n').join(' | ')}`);

      await hosts.startAgent('shop-a');
      const started = Date.now();
      await waitStreaming(box, endpoints.find((endpoint) => endpoint.name === 'shop-a')?.port ?? 0, 180_000);
      say(
        `    shop-a's agent started again: ${((Date.now() - started) / 1000).toFixed(1)} s later shop-a is a fallback streaming from ${death.to} (rewound with pg_rewind)`,
      );
      await writer.stop();
      await watch.stop();
      if (death.lostOutsideRpo.length > 0) throw new Error(`writes lost: ${death.lostOutsideRpo.join(', ')}`);
      if (watch.twoWritable.length > 0)
        throw new Error(`two instances took writes at once: ${watch.twoWritable[0]?.join(' and ')}`);
      if (watch.writableSince('shop-a', death.killedAt))
        throw new Error('shop-a took writes after the failover');
      say(`    never two writable in ${watch.samples()} samples of all three; shop-a never writable again`);
    } finally {
      await writer.stop();
      await watch.stop();
    }
  } finally {
    await pipeline.close();
  }
}

/** An instance as clients and the drill reach it. */
export interface HostEndpoint {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly priority: number;
}

/**
 * Stops the workers of this process and starts each host's own `pullback up` (an
 * agent per instance, the pull side with the election); resolves once a leader leads
 * and shop-a holds the active lease, with a registry connection (closed by the
 * caller), the instances and the multi-host connection string.
 */
export async function handOverToHosts(
  box: Sandbox,
  running: RunningPipeline,
  hosts: SandboxHosts,
  say: (line: string) => void,
): Promise<{ pipeline: Pipeline; endpoints: HostEndpoint[]; uri: string }> {
  await running.close();
  const component = box.config.components[SANDBOX_COMPONENT];
  if (component === undefined) throw new Error('the sandbox has no component');
  const endpoints = component.instances.map((instance) => ({
    name: instance.name,
    port: instance.port ?? 5432,
    priority: instance.priority ?? 0,
    host: instance.host ?? '127.0.0.1',
  }));
  say('    the workers of this process stopped; each host runs its own `pullback up` now:');
  for (const instance of component.instances) {
    const host = await hosts.startAgent(instance.name);
    say(`    pullback up --instance ${instance.name}  (pid ${host.pid}, agent on :${instance.agent?.port})`);
  }
  const pullSide = await hosts.startPullSide();
  say(`    pullback up --roles pull-backup,election  (pid ${pullSide.pid})`);
  const pipeline = openPipeline({ redis: box.redis.url });
  try {
    const registry = pipeline.registry;
    await until('an election leader and shop-a holding the active lease', 120_000, async () => {
      const [leader, lease] = await Promise.all([registry.leader(), registry.activeLease(SANDBOX_COMPONENT)]);
      return leader !== undefined && lease?.instance === 'shop-a';
    });
    say(`    election leader: ${(await registry.leader())?.holder}; shop-a holds the active lease`);
    const uri = readWriteConnectionString(endpoints, 'shop-a');
    if (uri === undefined) throw new Error('no connection string');
    return { pipeline, endpoints, uri };
  } catch (error) {
    await pipeline.close();
    throw error;
  }
}

export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(100)) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

async function psql(box: Sandbox, port: number, sql: string): Promise<string> {
  const { stdout } = await execFileAsync(
    join(box.active.binDir, 'psql'),
    ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql],
    { timeout: 30_000 },
  );
  return stdout;
}
