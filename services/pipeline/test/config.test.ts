import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/index.js';

/** The example from docs/architecture.md, "Config file", minus its schedule line (to see the default). */
const VALID = `
redis: redis://127.0.0.1:6379
archive:
  url: file:///var/lib/pullback/archive
  keyFile: /etc/pullback/archive.key
components:
  shop:
    recipe: postgres            # or: files (with \`path:\`)
    retention: { keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 }
    outbox: file:///var/lib/pullback/outbox/shop
    instances:
      - { name: shop-a, role: active,   host: 127.0.0.1, port: 5432, dataDir: /srv/pg/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/pg/b, priority: 50 }
`;

/** The config's problems as the user sees them, or [] when it is valid. */
function problems(text: string): readonly string[] {
  try {
    parseConfig(text, 'pullback.yaml');
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.lines;
    throw error;
  }
}

/** VALID with `from` replaced by `to` (which must occur exactly once). */
function edit(from: string, to: string): string {
  expect(VALID.split(from)).toHaveLength(2);
  return VALID.replace(from, to);
}

describe('parseConfig: a valid config', () => {
  it('parses the docs/architecture.md example with defaults applied', () => {
    const config = parseConfig(VALID, 'pullback.yaml');
    expect(config.redis).toBe('redis://127.0.0.1:6379');
    expect(config.archive).toEqual({
      url: 'file:///var/lib/pullback/archive',
      keyFile: '/etc/pullback/archive.key',
    });
    const shop = config.components.shop;
    expect(shop?.recipe).toBe('postgres');
    expect(shop?.schedule).toBe('0 * * * *');
    expect(shop?.retention).toEqual({ keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 });
    expect(shop?.instances.map((instance) => [instance.name, instance.role, instance.port])).toEqual([
      ['shop-a', 'active', 5432],
      ['shop-b', 'fallback', 5433],
    ]);
  });

  it('accepts a files component without instances, with an empty retention by default', () => {
    const config = parseConfig(
      `${VALID}  docs:\n    recipe: files\n    path: /srv/docs\n    schedule: "30 2 * * *"\n    outbox: s3://bucket/outbox/docs\n`,
      'pullback.yaml',
    );
    const docs = config.components.docs;
    expect(docs).toEqual({
      recipe: 'files',
      path: '/srv/docs',
      schedule: '30 2 * * *',
      retention: {},
      outbox: 's3://bucket/outbox/docs',
      instances: [],
    });
  });

  it('accepts every retention rule, keepWithin as a duration', () => {
    const text = edit(
      '{ keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 }',
      '{ keepLast: 3, keepHourly: 0, keepWithin: 1y6m }',
    );
    expect(parseConfig(text, 'pullback.yaml').components.shop?.retention).toEqual({
      keepLast: 3,
      keepHourly: 0,
      keepWithin: '1y6m',
    });
  });
});

describe('parseConfig: each problem is one line naming the key', () => {
  it('an unknown key', () => {
    expect(problems(edit('    recipe: postgres', '    recipe: postgres\n    colour: blue'))).toEqual([
      'pullback.yaml: components.shop.colour: unknown key',
    ]);
  });

  it('an unknown key spelt like a contract key gets a hint', () => {
    expect(problems(edit('  keyFile:', '  key_file:'))).toEqual([
      'pullback.yaml: archive.key_file: unknown key (did you mean "keyFile"?)',
    ]);
  });

  it('a wrong type', () => {
    expect(problems(edit('port: 5432,', 'port: 5432x,'))).toEqual([
      'pullback.yaml: components.shop.instances[0].port: expected an integer, got "5432x"',
    ]);
    expect(problems(edit('port: 5433,', 'port: 54.5,'))).toEqual([
      'pullback.yaml: components.shop.instances[1].port: expected an integer, got 54.5',
    ]);
    expect(problems(edit('keepDaily: 7', 'keepDaily: -1'))).toEqual([
      'pullback.yaml: components.shop.retention.keepDaily: must be at least 0, got -1',
    ]);
  });

  it('a missing required key', () => {
    expect(problems(edit('  url: file:///var/lib/pullback/archive\n', ''))).toEqual([
      'pullback.yaml: archive.url: required',
    ]);
  });

  it('an unknown role', () => {
    expect(problems(edit('role: fallback', 'role: leader'))).toEqual([
      'pullback.yaml: components.shop.instances[1].role: must be "active" or "fallback", got "leader"',
    ]);
  });

  it('an unknown recipe', () => {
    expect(problems(edit('recipe: postgres ', 'recipe: mysql '))).toEqual([
      'pullback.yaml: components.shop.recipe: must be "postgres" or "files", got "mysql"',
    ]);
  });

  it('a duplicate instance name, also across components', () => {
    expect(problems(edit('name: shop-b', 'name: shop-a'))).toEqual([
      'pullback.yaml: components.shop.instances[1].name: duplicate instance name "shop-a" (also at components.shop.instances[0])',
    ]);
    const other =
      '  shop2:\n    recipe: postgres\n    outbox: /outbox\n    instances:\n' +
      '      - { name: shop-b, role: active, host: db2, port: 5432, dataDir: /d, priority: 1 }\n';
    expect(problems(VALID + other)).toEqual([
      'pullback.yaml: components.shop2.instances[0].name: duplicate instance name "shop-b" (also at components.shop.instances[1])',
    ]);
  });

  it('no active instance, or two', () => {
    expect(problems(edit('role: active', 'role: fallback'))).toEqual([
      'pullback.yaml: components.shop.instances: no instance has role "active"; a postgres component needs exactly one',
    ]);
    expect(problems(edit('role: fallback', 'role: active'))).toEqual([
      'pullback.yaml: components.shop.instances[1].role: a second active instance (also components.shop.instances[0]); a component has exactly one',
    ]);
  });

  it('a postgres component without instances', () => {
    const text = VALID.replace(/ {4}instances:\n(.*\n)*/, '    instances: []\n');
    expect(problems(text)).toEqual([
      'pullback.yaml: components.shop.instances: a postgres component needs at least one instance',
    ]);
  });

  it('a files component without path, and path on a postgres component', () => {
    const docs = '  docs:\n    recipe: files\n    outbox: /outbox/docs\n';
    expect(problems(VALID + docs)).toEqual([
      'pullback.yaml: components.docs.path: required for recipe "files": the directory to back up',
    ]);
    expect(problems(edit('    recipe: postgres', '    recipe: postgres\n    path: /srv'))).toEqual([
      'pullback.yaml: components.shop.path: unknown key',
    ]);
  });

  it('a bad schedule', () => {
    expect(
      problems(edit('    recipe: postgres', '    recipe: postgres\n    schedule: "61 * * * *"')),
    ).toEqual([
      'pullback.yaml: components.shop.schedule: not a valid cron expression "61 * * * *": constraint error, got value 61 expected range 0-59',
    ]);
    expect(problems(edit('    recipe: postgres', '    recipe: postgres\n    schedule: "* * *"'))).toEqual([
      'pullback.yaml: components.shop.schedule: expected a cron expression with 5 fields (minute hour day month weekday), got "* * *"',
    ]);
  });

  it('a bad keepWithin, redis URL, archive URL', () => {
    expect(problems(edit('keepMonthly: 12', 'keepWithin: 7days'))[0]).toMatch(
      /^pullback\.yaml: components\.shop\.retention\.keepWithin: expected a duration like "7d".*, got "7days"$/,
    );
    expect(problems(edit('redis://127.0.0.1:6379', '127.0.0.1:6379'))).toEqual([
      'pullback.yaml: redis: expected a redis:// or rediss:// URL, got "127.0.0.1:6379"',
    ]);
    expect(problems(edit('file:///var/lib/pullback/archive', 'ftp://host/archive'))).toEqual([
      'pullback.yaml: archive.url: expected a path, file:///path or s3://bucket/prefix, got "ftp://host/archive"',
    ]);
  });

  it('bad names, and the reserved component name "files"', () => {
    expect(problems(edit('name: shop-b', 'name: Shop B'))).toEqual([
      'pullback.yaml: components.shop.instances[1].name: must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit, got "Shop B"',
    ]);
    expect(problems(edit('  shop:', '  files:'))).toEqual([
      'pullback.yaml: components.files: the component name "files" is reserved (it would clash with "pullback backup files PATH"); choose another',
    ]);
  });

  it('lists several problems in file order', () => {
    const text = edit('role: fallback', 'role: leader').replace('redis://127.0.0.1:6379', 'localhost');
    expect(problems(text)).toEqual([
      'pullback.yaml: redis: expected a redis:// or rediss:// URL, got "localhost"',
      'pullback.yaml: components.shop.instances[1].role: must be "active" or "fallback", got "leader"',
    ]);
  });
});

describe('parseConfig: the election keys (docs/election.md)', () => {
  it('accepts an agent per instance, the agent token and a fence command', () => {
    const text = `${edit('priority: 100 }', 'priority: 100, agent: { port: 8008, host: 10.0.0.1 } }')
      .replace('priority: 50 }', 'priority: 50, agent: { port: 8009 } }')
      .replace(
        '    recipe: postgres',
        '    recipe: postgres\n    fence: /usr/local/bin/fence-shop',
      )}agentToken: 0123456789abcdef\n`;
    const config = parseConfig(text, 'pullback.yaml');
    expect(config.agentToken).toBe('0123456789abcdef');
    const shop = config.components.shop;
    expect(shop?.recipe === 'postgres' && shop.fence).toBe('/usr/local/bin/fence-shop');
    expect(shop?.instances.map((instance) => instance.agent)).toEqual([
      { port: 8008, host: '10.0.0.1' },
      { port: 8009 },
    ]);
    // All optional: the plain example has none of them.
    const plain = parseConfig(VALID, 'pullback.yaml');
    expect(plain.agentToken).toBeUndefined();
    expect(plain.components.shop?.instances[0]?.agent).toBeUndefined();
    expect(
      parseConfig(`${VALID}agentTokenFile: /etc/pullback/agent.token\n`, 'pullback.yaml').agentTokenFile,
    ).toBe('/etc/pullback/agent.token');
  });

  it('each problem with them is one line naming the key', () => {
    expect(problems(edit('priority: 50 }', 'priority: 50, agent: { port: 0 } }'))).toEqual([
      'pullback.yaml: components.shop.instances[1].agent.port: must be at least 1, got 0',
    ]);
    expect(problems(edit('priority: 50 }', 'priority: 50, agent: { prot: 8008 } }'))[0]).toMatch(
      /^pullback\.yaml: components\.shop\.instances\[1\]\.agent/,
    );
    // Never the value: a token is a secret.
    expect(problems(`${VALID}agentToken: short-secret\n`)).toEqual([
      'pullback.yaml: agentToken: must be at least 16 characters',
    ]);
    expect(problems(`${VALID}agentToken: 12345678901234567890\n`)).toEqual([
      'pullback.yaml: agentToken: must be a string of at least 16 characters',
    ]);
    expect(
      problems(`${VALID}agentToken: 0123456789abcdef\nagentTokenFile: /etc/pullback/agent.token\n`),
    ).toEqual(['pullback.yaml: agentTokenFile: give agentToken or agentTokenFile, not both']);
    expect(problems(edit('    recipe: postgres', '    recipe: postgres\n    fence: ""'))[0]).toMatch(
      /^pullback\.yaml: components\.shop\.fence: /,
    );
  });

  it('dashboardToken or dashboardTokenFile (docs/observability.md): optional, one line naming the key, never the value', () => {
    expect(parseConfig(`${VALID}dashboardToken: 0123456789abcdef\n`, 'pullback.yaml').dashboardToken).toBe(
      '0123456789abcdef',
    );
    expect(
      parseConfig(`${VALID}dashboardTokenFile: /etc/pullback/dashboard.token\n`, 'pullback.yaml')
        .dashboardTokenFile,
    ).toBe('/etc/pullback/dashboard.token');
    expect(parseConfig(VALID, 'pullback.yaml').dashboardToken).toBeUndefined();
    expect(problems(`${VALID}dashboardToken: short-secret\n`)).toEqual([
      'pullback.yaml: dashboardToken: must be at least 16 characters',
    ]);
    expect(problems(`${VALID}dashboardToken: 12345678901234567890\n`)).toEqual([
      'pullback.yaml: dashboardToken: must be a string of at least 16 characters',
    ]);
    expect(
      problems(
        `${VALID}dashboardToken: 0123456789abcdef\ndashboardTokenFile: /etc/pullback/dashboard.token\n`,
      ),
    ).toEqual(['pullback.yaml: dashboardTokenFile: give dashboardToken or dashboardTokenFile, not both']);
    // Another spelling gets the hint of every known key.
    expect(problems(`${VALID}dashboard_token: 0123456789abcdef\n`)).toEqual([
      'pullback.yaml: dashboard_token: unknown key (did you mean "dashboardToken"?)',
    ]);
  });

  it('accepts a pgbouncer hook with its defaults, and refuses a key the chosen reload does not use', () => {
    const hooked = (hook: string) =>
      edit('    recipe: postgres', `    recipe: postgres\n    pgbouncer: ${hook}`);
    const shop = parseConfig(hooked('{ ini: /etc/pgbouncer/pgbouncer.ini }'), 'pullback.yaml').components
      .shop;
    expect(shop?.recipe === 'postgres' && shop.pgbouncer).toEqual({
      ini: '/etc/pgbouncer/pgbouncer.ini',
      reload: 'admin',
    });
    const admin = parseConfig(
      hooked('{ ini: /p.ini, database: shopdb, admin: { port: 6433 } }'),
      'pullback.yaml',
    ).components.shop;
    expect(admin?.recipe === 'postgres' && admin.pgbouncer?.admin).toEqual({
      host: '127.0.0.1',
      port: 6433,
      user: 'pgbouncer',
    });
    expect(problems(hooked('{ ini: /p.ini, reload: sighup, admin: { port: 6433 } }'))).toEqual([
      'pullback.yaml: components.shop.pgbouncer.admin: is not used with reload: sighup',
    ]);
    expect(problems(hooked('{ ini: /p.ini, pidFile: /run/p.pid }'))).toEqual([
      'pullback.yaml: components.shop.pgbouncer.pidFile: is not used with reload: admin',
    ]);
    expect(problems(hooked('{ ini: /p.ini, reload: hup }'))).toEqual([
      'pullback.yaml: components.shop.pgbouncer.reload: must be "admin" or "sighup", got "hup"',
    ]);
  });
});

describe('parseConfig: not a config at all', () => {
  it('a YAML syntax error is one line with file, line and column', () => {
    expect(problems('redis: redis://x\narchive: [1, 2\ncomponents: {}\n')).toEqual([
      'pullback.yaml:3:1: invalid YAML: flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(problems('redis: a\nredis: b\n')).toEqual([
      'pullback.yaml:2:1: invalid YAML: map keys must be unique',
    ]);
  });

  it('an empty file, or a list', () => {
    expect(problems('')).toEqual([
      'pullback.yaml: empty config: expected a mapping with redis, archive and components',
    ]);
    expect(problems('- a\n')).toEqual(['pullback.yaml: expected a mapping at the top level, got a list']);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pullback-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a file, naming it in errors', async () => {
    const good = join(dir, 'good.yaml');
    await writeFile(good, VALID);
    expect((await loadConfig(good)).components.shop?.instances).toHaveLength(2);

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, edit('role: fallback', 'role: leader'));
    await expect(loadConfig(bad)).rejects.toMatchObject({
      lines: [`${bad}: components.shop.instances[1].role: must be "active" or "fallback", got "leader"`],
    });
  });

  it('a missing file is one line', async () => {
    const missing = join(dir, 'missing.yaml');
    await expect(loadConfig(missing)).rejects.toMatchObject({
      lines: [`${missing}: no such file`],
      kind: 'missing-file',
    });
    await expect(loadConfig(missing)).rejects.toBeInstanceOf(ConfigError);
  });

  it('a 50 MB file is refused within a second, unread', async () => {
    const huge = join(dir, 'huge.yaml');
    await writeFile(huge, VALID);
    await truncate(huge, 50 * 1024 * 1024);
    const started = Date.now();
    await expect(loadConfig(huge)).rejects.toMatchObject({
      lines: [`${huge}: too large for a config (50.0 MiB; at most 1 MiB)`],
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('parseConfig: hostile input under the size limit', () => {
  it('1 MiB of 60,000 keys is answered in seconds, not minutes', () => {
    const keys = Array.from({ length: 60_000 }, (_, index) => `k${index}: 1`).join('\n');
    const started = Date.now();
    const lines = problems(keys.slice(0, 1_000_000));
    expect(lines[0]).toBe('pullback.yaml: redis: required');
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  it('an alias bomb is refused', () => {
    // Nine times nine ... of "x": a billion laughs in a few hundred bytes.
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const levels = names.map((name, level) => {
      const items = Array(9)
        .fill(level === 0 ? 'x' : `*${names[level - 1]}`)
        .join(', ');
      return `${name}: &${name} [${items}]`;
    });
    expect(problems(levels.join('\n'))).toEqual([
      'pullback.yaml: invalid YAML: excessive alias count indicates a resource exhaustion attack',
    ]);
  });

  it('a repeated key is found in nested mappings too', () => {
    expect(problems('components:\n  a: {}\n  b: {}\n  a: {}\n')).toEqual([
      'pullback.yaml:4:3: invalid YAML: map keys must be unique',
    ]);
  });
});
