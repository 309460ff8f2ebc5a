import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { openPipeline, parseConfig } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/run.js';
import { startCli } from './cli-process.js';
import { runCli } from './run-cli.js';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;

const HEADER = /^Every 1 s: pullback status {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}\(Ctrl-C to stop\)$/;

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-status-watch')]);
  configPath = join(scratch.path, 'pullback.yaml');
  const yaml = `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
components:
  docs:
    recipe: files
    path: ${scratch.path}
    outbox: ${join(scratch.path, 'outbox')}
`;
  await writeFile(configPath, yaml);
  const pipeline = openPipeline({ redis: redis.url });
  await pipeline.register(parseConfig(yaml, configPath));
  await pipeline.close();
});

afterAll(async () => {
  await redis?.stop();
  await scratch?.remove();
});

describe('pullback status --watch', () => {
  it('not on a terminal: prints frame after frame, a blank line between, until SIGINT, and exits 0', {
    timeout: 60_000,
  }, async () => {
    const watching = startCli(['status', '--watch', '--interval', '1', '--config', configPath]);
    await watching.waitForOutput(/(Every 1 s: [^\n]*\n[\s\S]*){3}/);
    expect(await watching.stop('SIGINT')).toBe(0);
    const output = watching.output();
    expect(output).not.toContain('\x1b[');
    const frames = output.replace(/pullback: stopping[^\n]*\n/, '').split('\n\nEvery');
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const [index, frame] of frames.entries()) {
      const [header, blank, ...body] = (index === 0 ? frame : `Every${frame}`).split('\n');
      expect(header).toMatch(HEADER);
      expect(blank).toBe('');
      expect(body.join('\n')).toMatch(/^election leader {2}none: no election worker leads\n\ndocs \(files, /);
    }
  });

  it('on a terminal: each frame clears the screen and is drawn over the last', {
    timeout: 60_000,
  }, async () => {
    const stdout = Object.assign(new PassThrough(), { isTTY: true });
    let written = '';
    stdout.on('data', (chunk: Buffer) => {
      written += chunk.toString();
    });
    const stop = new AbortController();
    const done = run(['node', 'pullback', 'status', '--watch', '--interval', '1', '--config', configPath], {
      stdout,
      stderr: new PassThrough(),
      env: {},
      signal: stop.signal,
    });
    await waitFor(
      'two frames',
      async () => (written.split('\x1b[H\x1b[2J').length > 2 ? true : undefined),
      30_000,
    );
    stop.abort();
    expect(await done).toBe(0);
    const frames = written.split('\x1b[H\x1b[2J');
    expect(frames[0]).toBe('');
    for (const frame of frames.slice(1)) {
      expect(frame.split('\n')[0]).toMatch(HEADER);
      expect(frame).toContain('docs (files, ');
    }
  });

  it('--interval without --watch, and --watch with --json, are refused with one line', async () => {
    const lone = await runCli(['status', '--interval', '5', '--config', configPath]);
    expect(lone.code).toBe(2);
    expect(lone.errorLines).toEqual(['pullback: --interval is the pace of --watch; HINT: add --watch']);
    const both = await runCli(['status', '--watch', '--json', '--config', configPath]);
    expect(both.code).toBe(2);
    expect(both.errorLines).toHaveLength(1);
    expect(both.errorLines[0]).toMatch(/^pullback: option '--watch' cannot be used with option '--json'/);
  });
});
