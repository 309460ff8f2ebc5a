import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort, type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { openPipeline, parseConfig } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from './cli-process.js';
import { runCli } from './run-cli.js';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;
const running: CliProcess[] = [];

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-dash-http')]);
  const source = join(scratch.path, 'source');
  await mkdir(source);
  await writeFile(join(source, 'notes.txt'), 'kept\n');
  configPath = join(scratch.path, 'pullback.yaml');
  const yaml = `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')}, keyFile: ${join(scratch.path, 'archive.key')} }
components:
  docs:
    recipe: files
    path: ${source}
    outbox: ${join(scratch.path, 'outbox')}
`;
  await writeFile(configPath, yaml);
  const pipeline = openPipeline({ redis: redis.url });
  await pipeline.register(parseConfig(yaml, configPath));
  await pipeline.close();
  expect((await runCli(['archive', 'init', '--config', configPath])).stderr).toBe('');
  expect((await runCli(['backup', 'docs', '--config', configPath])).stderr).toBe('');
});

afterAll(async () => {
  for (const process of running) await process.stop('SIGKILL');
  await redis?.stop();
  await scratch?.remove();
});

async function startDashboard(
  ...args: string[]
): Promise<{ url: string; port: number; process: CliProcess }> {
  const port = await freePort();
  const process = startCli(['dashboard', '--config', configPath, '--port', String(port), ...args]);
  running.push(process);
  const [, url] = await process.waitForOutput(/^(?:\{.*"msg":")?dashboard on (\S+) /m);
  return { url: url!, port, process };
}

/** A request with a Host header of our choosing (fetch sets its own). */
function get(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/status.json', headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    })
      .once('error', reject)
      .end();
  });
}

describe('pullback dashboard over HTTP', () => {
  it('is read-only, answers only to its own address, and says so for what it does not serve', async () => {
    const { url, port } = await startDashboard();
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    const post = await fetch(url, { method: 'POST', body: 'activate' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${url}nothing-here`)).status).toBe(404);
    expect(await get(port, `localhost:${port}`)).toBe(200);
    // A page of another site whose name was pointed at 127.0.0.1 (DNS rebinding).
    expect(await get(port, `attacker.example:${port}`)).toBe(421);
  });

  it('shows that Redis does not answer while it is down, keeps the snapshot timeline, and recovers by itself', {
    timeout: 120_000,
  }, async () => {
    const { url } = await startDashboard();
    const panel = async () => (await fetch(`${url}panel`)).text();
    expect(await panel()).toMatch(/<tr data-snapshot="[0-9a-f]{64}">/);
    await redis.halt({ keepData: true });
    try {
      const down = await panel();
      expect(down).toMatch(/<p class="alert" role="alert">cannot read the registry: .+<\/p>/);
      expect(down).toMatch(/<tr data-snapshot="[0-9a-f]{64}">/);
    } finally {
      await redis.resume();
    }
    const after = await waitFor(
      'the registry read again',
      async () => {
        const text = await panel();
        return text.includes('cannot read the registry') ? undefined : text;
      },
      60_000,
      250,
    );
    expect(after).toContain('<h3>Jobs</h3>');
  });

  it('refuses a port in use with one line, and a Redis it cannot reach with one line', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = await runCli(['dashboard', '--config', configPath, '--port', String(port)]);
      expect(result.code).toBe(1);
      expect(result.errorLines).toEqual([
        `pullback: port ${port} is in use on 127.0.0.1; HINT: choose another --port`,
      ]);
    } finally {
      taken.close();
    }
    const noRedis = join(scratch.path, 'no-redis.yaml');
    await writeFile(
      noRedis,
      `redis: redis://127.0.0.1:${await freePort()}\narchive: { url: ${join(scratch.path, 'archive')}, keyFile: ${join(scratch.path, 'archive.key')} }\ncomponents: {}\n`,
    );
    const unreachable = await runCli(['dashboard', '--config', noRedis, '--port', String(await freePort())]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.errorLines).toHaveLength(1);
    expect(unreachable.errorLines[0]).toMatch(
      /^pullback: cannot reach redis at redis:\/\/127\.0\.0\.1:\d+: /,
    );
  });
});
