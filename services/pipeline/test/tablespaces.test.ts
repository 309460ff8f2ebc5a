import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir } from '@pullback/harness';
import { describe, expect, it } from 'vitest';
import type { ArtifactManifest } from '../src/artifact/format.js';
import {
  ConfigError,
  describeArtifact,
  describeSnapshot,
  linkTablespaces,
  parseConfig,
  parseTablespaceMap,
  placeTablespaces,
  snapshotTags,
  tablespaceMapOf,
  tablespacesUnder,
} from '../src/index.js';

const CONFIG = (tablespaces: string) => `
redis: redis://127.0.0.1:6379
archive: { url: file:///var/lib/pullback/archive }
components:
  shop:
    recipe: postgres
    outbox: file:///var/lib/pullback/outbox/shop
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/pg/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/pg/b, priority: 50, tablespaces: ${tablespaces} }
`;

describe('tablespace locations and maps', () => {
  it('maps each tablespace to its new location, else its original one', () => {
    const map = parseTablespaceMap(['/srv/ts/fast/=/mnt/b/fast', '/srv/other=/mnt/other']);
    expect(placeTablespaces({ '16390': '/srv/ts/fast', '16391': '/srv/ts/slow' }, map)).toEqual({
      relocate: { 'pg_tblspc/16390': '/mnt/b/fast', 'pg_tblspc/16391': '/srv/ts/slow' },
      locations: { '16390': '/mnt/b/fast', '16391': '/srv/ts/slow' },
    });
    expect(tablespacesUnder({ '16390': '/srv/ts/fast' }, '/tmp/drill-ts')).toEqual(
      new Map([['/srv/ts/fast', '/tmp/drill-ts/16390']]),
    );
  });

  it('refuses a malformed or repeated mapping, and two tablespaces at one place, in one line', () => {
    expect(() => parseTablespaceMap(['relative=/x'])).toThrow(
      'invalid tablespace mapping "relative=/x": expected OLD=NEW, both absolute paths',
    );
    expect(() => parseTablespaceMap(['/a=/x', '/a/=/y'])).toThrow('tablespace location /a is mapped twice');
    expect(() =>
      placeTablespaces({ '1': '/a', '2': '/b' }, parseTablespaceMap(['/a=/same', '/b=/same'])),
    ).toThrow('tablespaces 1 and 2 would both be restored at /same');
  });

  it('round-trips through the snapshot tags; a malformed tag is refused', () => {
    const manifest = {
      component: 'shop',
      recipe: 'postgres',
      kind: 'physical',
      exportId: 'e1',
      tablespaces: { '16390': '/srv/ts/fast' },
    } as unknown as ArtifactManifest;
    const tags = snapshotTags(describeArtifact(manifest));
    expect(tags.tablespaces).toBe('{"16390":"/srv/ts/fast"}');
    expect(describeSnapshot({ id: 'a'.repeat(64), tags }).tablespaces).toEqual({ '16390': '/srv/ts/fast' });
    expect(() =>
      describeSnapshot({ id: 'a'.repeat(64), tags: { ...tags, tablespaces: '{"x":"rel"}' } }),
    ).toThrow(/has tag tablespaces=.*expected JSON of tablespace OIDs to absolute paths/);
  });

  it('instance.tablespaces: absolute paths, given to imports as a map', () => {
    const config = parseConfig(CONFIG('{ /srv/ts/fast: /mnt/b/fast }'), 'pullback.yaml');
    const b = config.components.shop!.instances.find((i) => i.name === 'shop-b');
    expect(tablespaceMapOf(b?.tablespaces)).toEqual(new Map([['/srv/ts/fast', '/mnt/b/fast']]));
    let lines: readonly string[] = [];
    try {
      parseConfig(CONFIG('{ /srv/ts/fast: mnt/b }'), 'pullback.yaml');
    } catch (error) {
      if (error instanceof ConfigError) lines = error.lines;
    }
    expect(lines.join('\n')).toMatch(/tablespaces.*expected an absolute path/);
    // A relative location on the active's side (the map's key) is named as plainly.
    try {
      parseConfig(CONFIG('{ srv/ts: /mnt/b }'), 'pullback.yaml');
    } catch (error) {
      if (error instanceof ConfigError) lines = error.lines;
    }
    expect(lines).toEqual([
      'pullback.yaml: components.shop.instances[1].tablespaces["srv/ts"]: expected an absolute path (the key), got "srv/ts"',
    ]);
  });

  it('links pg_tblspc/<oid> to each location and rewrites tablespace_map', async () => {
    const dir = await scratchDir('link-tablespaces');
    try {
      const target = join(dir.path, 'data');
      await mkdir(join(target, 'pg_tblspc', '16390'), { recursive: true });
      await writeFile(join(target, 'tablespace_map'), '16390 /srv/ts/fast\n');
      const placement = placeTablespaces(
        { '16390': '/srv/ts/fast' },
        parseTablespaceMap(['/srv/ts/fast=/mnt/f']),
      );
      await linkTablespaces(target, placement);
      await linkTablespaces(target, placement);
      expect(await readlink(join(target, 'pg_tblspc', '16390'))).toBe('/mnt/f');
      expect(await readFile(join(target, 'tablespace_map'), 'utf8')).toBe('16390 /mnt/f\n');
    } finally {
      await dir.remove();
    }
  });
});
