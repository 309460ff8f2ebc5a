import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, type PostgresServer, scratchDir, startPostgres } from '@pullback/harness';
import { type Config, parseConfig } from '@pullback/pipeline';
import {
  closePools,
  compareLsn,
  demoteServer,
  postmasterStatus,
  query,
  serverAccount,
  startStandby,
  stopServer,
} from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { epochRecordPath, readEpochRecord, startAgent } from '../src/index.js';

const TOKEN = 'agent-token-0123456789';

let server: PostgresServer;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let agentPort: number;

/** A config with `shop-a` on the harness's server and a second instance elsewhere. */
function config(extra: { agent?: string; top?: string } = {}): Config {
  const agent = extra.agent ?? `, agent: { port: ${agentPort}, host: 127.0.0.1 }`;
  return parseConfig(
    `redis: redis://127.0.0.1:6379
archive: { url: ${join(scratch.path, 'archive')} }
stateDir: ${join(scratch.path, 'state')}
${extra.top ?? `agentTokenFile: ${join(scratch.path, 'agent.token')}`}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-b, role: active, host: 127.0.0.1, port: 1, dataDir: /nowhere, priority: 100 }
      - { name: shop-a, role: fallback, host: 127.0.0.1, port: ${server.port}, dataDir: ${server.dataDir}, priority: 50${agent} }
`,
    'pullback.yaml',
  );
}

beforeAll(async () => {
  scratch = await scratchDir('start-agent');
  await writeFile(join(scratch.path, 'agent.token'), `${TOKEN}\n`);
  agentPort = await freePort();
  // The harness's server, turned into a standby that follows no one (a fallback, as it were).
  server = await startPostgres();
  await demoteServer({ dataDir: server.dataDir, endpoint: { host: server.socketDir, port: server.port } });
  await startStandby({
    dataDir: server.dataDir,
    port: server.port,
    listenAddresses: '127.0.0.1',
    socketDir: server.socketDir,
    logFile: join(server.dataDir, '..', 'standby.log'),
    timeoutSeconds: 120,
  });
});

afterAll(async () => {
  await closePools();
  await stopServer({ dataDir: server.dataDir }).catch(() => {});
  await server?.stop();
  await scratch?.remove();
});

describe('startAgent', () => {
  it("serves the instance's endpoints at its agent address, with its record under stateDir, and promotes it", async () => {
    const logged: string[] = [];
    const agent = await startAgent(config(), 'shop-a', { log: (line) => logged.push(line) });
    try {
      expect(agent.url).toBe(`http://127.0.0.1:${agentPort}`);
      const health = await fetch(`${agent.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({
        instance: 'shop-a',
        role: 'fallback',
        epoch: null,
        state: 'not-streaming',
      });
      expect((await fetch(`${agent.url}/replica`)).status).toBe(503);

      const post = (path: string, body: unknown) =>
        fetch(`${agent.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify(body),
        });
      // Another instance active while this one is a standby: nothing to demote, it keeps running.
      const asStandby = await post('/epoch', { epoch: 1, active: 'shop-b' });
      expect(asStandby.status).toBe(200);
      expect(await asStandby.json()).not.toHaveProperty('stopped');
      expect((await postmasterStatus(server.dataDir)).running).toBe(true);
      expect((await post('/epoch', { epoch: 2, active: 'shop-a' })).status).toBe(200);
      expect(await readEpochRecord(epochRecordPath(join(scratch.path, 'state'), 'shop-a'))).toMatchObject({
        epoch: 2,
        active: 'shop-a',
      });
      expect((await post('/promote', { epoch: 1 })).status).toBe(409);
      const as = await serverAccount();
      const endpoint = { host: server.socketDir, port: server.port };
      expect(await query(endpoint, 'select pg_is_in_recovery()', { as })).toBe('t');

      expect((await post('/promote', { epoch: 2 })).status).toBe(200);
      expect(await query(endpoint, 'select pg_is_in_recovery()', { as })).toBe('f');
      // The record names it active now; permission (the active lease) is not this view's to give.
      expect(await (await fetch(`${agent.url}/primary`)).json()).toEqual({
        instance: 'shop-a',
        role: 'active',
        epoch: 2,
        state: 'no-permission',
      });

      // A newer epoch naming another instance: the agent demotes its primary at once.
      const lastWrite = await query(endpoint, 'select pg_current_wal_lsn()', { as });
      const superseded = await post('/epoch', { epoch: 3, active: 'shop-b' });
      expect(superseded.status).toBe(200);
      expect((await postmasterStatus(server.dataDir)).running).toBe(false);
      expect(logged).toContain('demoted shop-a: epoch 3 names shop-b active');
      // The answer says where its WAL ends: a clean shutdown, whose checkpoint follows every write.
      const { stopped } = (await superseded.json()) as { stopped: { state: string; checkpointLsn: string } };
      expect(stopped).toEqual({ state: 'shut down', checkpointLsn: expect.any(String), timeline: 2 });
      expect(compareLsn(stopped.checkpointLsn, lastWrite)).toBeGreaterThanOrEqual(0);
    } finally {
      await agent.close();
    }
  });

  it('refuses, in one line, an unknown instance, one without an agent, and a config without a token', async () => {
    await expect(startAgent(config(), 'shop-z')).rejects.toThrow(/^no instance "shop-z" in the config$/);
    await expect(startAgent(config({ agent: '' }), 'shop-a')).rejects.toThrow(
      /^instance shop-a has no agent in the config; HINT: add agent: \{ port: PORT \} to it$/,
    );
    await expect(startAgent(config({ top: '' }), 'shop-a')).rejects.toThrow(
      /^the config has no agentToken or agentTokenFile; the agents need one$/,
    );
    await expect(
      startAgent(config({ top: 'agentTokenFile: /nonexistent/agent.token' }), 'shop-a'),
    ).rejects.toThrow(/^cannot read agentTokenFile \/nonexistent\/agent.token: ENOENT$/);
  });
});
