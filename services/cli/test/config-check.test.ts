import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeRegExp, runCli } from './run-cli.js';

const VALID = `redis: redis://127.0.0.1:6379
archive:
  url: file:///var/lib/pullback/archive
  keyFile: /etc/pullback/archive.key
components:
  shop:
    recipe: postgres
    schedule: "0 * * * *"
    retention: { keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 }
    outbox: file:///var/lib/pullback/outbox/shop
    instances:
      - { name: shop-a, role: active,   host: 127.0.0.1, port: 5432, dataDir: /srv/pg/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/pg/b, priority: 50 }
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pullback-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

function variant(from: string, to: string): string {
  expect(VALID.split(from)).toHaveLength(2);
  return VALID.replace(from, to);
}

describe('pullback config check', () => {
  it('a valid config: a summary on stdout, exit 0', async () => {
    const path = await configFile('valid.yaml', VALID);
    const result = await runCli(['config', 'check', path]);
    expect(result).toMatchObject({ code: 0, stdout: `${path}: ok (1 component, 2 instances)\n`, stderr: '' });
  });

  it.each([
    [
      'an unknown key',
      variant('    recipe: postgres', '    recipe: postgres\n    colour: blue'),
      'components.shop.colour: unknown key',
    ],
    [
      'a wrong type',
      variant('port: 5432,', 'port: 5432x,'),
      'components.shop.instances[0].port: expected an integer, got "5432x"',
    ],
    [
      'a missing archive url',
      variant('  url: file:///var/lib/pullback/archive\n', ''),
      'archive.url: required',
    ],
    [
      'a duplicate instance name',
      variant('name: shop-b', 'name: shop-a'),
      'components.shop.instances[1].name: duplicate instance name "shop-a" (also at components.shop.instances[0])',
    ],
    [
      'an unknown role',
      variant('role: fallback', 'role: leader'),
      'components.shop.instances[1].role: must be "active" or "fallback", got "leader"',
    ],
  ])('%s: exactly one line naming the key, exit 1', async (_what, text, expected) => {
    const path = await configFile('bad.yaml', text);
    const result = await runCli(['config', 'check', path]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.errorLines).toEqual([`${path}: ${expected}`]);
  });

  it('a YAML syntax error: one line with line and column', async () => {
    const path = await configFile('syntax.yaml', 'redis: redis://x\narchive: [1, 2\ncomponents: {}\n');
    const result = await runCli(['config', 'check', path]);
    expect(result.code).toBe(1);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(new RegExp(`^${escapeRegExp(path)}:3:1: invalid YAML: `));
  });

  it('a missing file: one line, non-zero', async () => {
    const path = join(dir, 'missing.yaml');
    const result = await runCli(['config', 'check', path]);
    expect(result.code).not.toBe(0);
    expect(result.errorLines).toEqual([`${path}: no such file`]);
  });

  it('without FILE: PULLBACK_CONFIG, else ./pullback.yaml (with a hint when missing)', async () => {
    const path = await configFile('from-env.yaml', VALID);
    const fromEnv = await runCli(['config', 'check'], { env: { PULLBACK_CONFIG: path } });
    expect(fromEnv).toMatchObject({ code: 0, stdout: `${path}: ok (1 component, 2 instances)\n` });

    const cwd = await mkdtemp(join(dir, 'cwd-'));
    const missing = await runCli(['config', 'check'], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.errorLines).toEqual([
      'pullback.yaml: no such file (name one: pullback config check FILE, or set PULLBACK_CONFIG)',
    ]);

    await writeFile(join(cwd, 'pullback.yaml'), VALID);
    const found = await runCli(['config', 'check'], { cwd });
    expect(found).toMatchObject({ code: 0, stdout: 'pullback.yaml: ok (1 component, 2 instances)\n' });
  });
});
