import { createServer, type Server, type Socket } from 'node:net';
import { freePort, scratchDir } from '@pullback/harness';
import {
  type AgentServer,
  EpochRecordStore,
  epochRecordPath,
  FailsafePromises,
  startAgentServer,
} from '@pullback/worker-agent';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentAddress, AgentClient } from '../src/index.js';

const TOKEN = 'client-test-token-0123456789';

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let server: AgentServer;
let agent: AgentAddress;
let promoted: number[];

beforeEach(async () => {
  scratch = await scratchDir('agent-client');
  const record = new EpochRecordStore(epochRecordPath(scratch.path, 'shop-b'));
  promoted = [];
  server = await startAgentServer({
    instance: 'shop-b',
    port: 0,
    agentToken: TOKEN,
    record,
    promises: new FailsafePromises(record, 3000),
    view: () => ({ role: 'fallback', holdsPermission: false, serverRunning: true, streaming: true }),
    promote: async (epoch) => {
      promoted.push(epoch);
    },
  });
  agent = { instance: 'shop-b', url: server.url };
});

afterEach(async () => {
  await server?.close();
  await scratch?.remove();
});

describe('AgentClient', () => {
  it('reads, records and promotes through the agent, with the token', async () => {
    const client = new AgentClient({ agentToken: TOKEN });
    expect(await client.epoch(agent)).toBeUndefined();
    expect(await client.recordEpoch(agent, 3, 'shop-b')).toEqual({ outcome: 'accepted' });
    expect(await client.epoch(agent)).toMatchObject({ epoch: 3, active: 'shop-b' });
    expect(await client.recordEpoch(agent, 2, 'shop-c')).toMatchObject({ outcome: 'refused', epoch: 3 });
    expect(await client.promote(agent, 2)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('epoch 3'),
    });
    expect(promoted).toEqual([]);
    expect(await client.promote(agent, 3)).toEqual({ ok: true });
    expect(promoted).toEqual([3]);
    expect(await client.health(agent, '/replica')).toBe(200);
    expect(await client.health(agent, '/primary')).toBe(503);
  });

  it('a wrong token: one line naming the agent, never the token', async () => {
    const wrong = 'wrong-token-abcdefghijklmnop';
    const client = new AgentClient({ agentToken: wrong });
    const answer = await client.recordEpoch(agent, 3, 'shop-b');
    expect(answer).toMatchObject({
      outcome: 'unreachable',
      reason: expect.stringMatching(/^agent of shop-b at http:.* 401 /),
    });
    const promotion = await client.promote(agent, 3);
    expect(promotion.ok).toBe(false);
    for (const text of [JSON.stringify(answer), JSON.stringify(promotion)]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain('\\n');
    }
    expect(await new AgentClient({ agentToken: TOKEN }).epoch(agent)).toBeUndefined();
  });

  it('an agent that is not there, or does not answer in time: unreachable, one line', async () => {
    const client = new AgentClient({ agentToken: TOKEN, timeoutMs: 300, recordTimeoutMs: 300 });
    const nobody = { instance: 'shop-x', url: `http://127.0.0.1:${await freePort()}` };
    expect(await client.recordEpoch(nobody, 3, 'shop-b')).toEqual({
      outcome: 'unreachable',
      reason: `agent of shop-x at ${nobody.url} did not answer: ECONNREFUSED`,
    });
    await expect(client.epoch(nobody)).rejects.toThrow(
      /^agent of shop-x at .* did not answer: ECONNREFUSED$/,
    );
    expect(await client.health(nobody, '/health')).toBeUndefined();

    // Accepts connections and never answers.
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => {
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const stalled = { instance: 'shop-y', url: `http://127.0.0.1:${port}` };
      expect(await client.recordEpoch(stalled, 3, 'shop-b')).toEqual({
        outcome: 'unreachable',
        reason: `agent of shop-y at ${stalled.url} did not answer: no answer within 300 ms`,
      });
      expect(await client.promote(stalled, 3, 300)).toEqual({
        ok: false,
        reason: `agent of shop-y at ${stalled.url} did not answer: no answer within 300 ms`,
      });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
