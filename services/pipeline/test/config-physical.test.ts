import { describe, expect, it } from 'vitest';
import { exportArtifact } from '../src/domain/export-artifact.js';
import {
  type ArtifactManifest,
  ConfigError,
  type ExportInput,
  parseConfig,
  type Recipe,
} from '../src/index.js';

const config = (physical: string) => `
redis: redis://127.0.0.1:6379
archive: { url: /var/lib/pullback/archive }
components:
  shop:
    recipe: postgres
    outbox: /var/lib/pullback/outbox/shop
${physical}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/pg/a, priority: 100 }
`;

/** A recipe that only keeps what it was asked (the config's path into ExportInput is what is tested). */
function askedRecipe(asked: ExportInput[]): Recipe {
  return {
    name: 'postgres',
    kinds: ['physical'],
    importKinds: ['physical'],
    export: async (input) => {
      asked.push(input);
      return { exportId: input.exportId } as ArtifactManifest;
    },
  };
}

describe("a postgres component's physical exports", () => {
  it('default to the own backup where possible with a weekly full read, and pass the choice and its schedule to the recipe', async () => {
    const defaults = parseConfig(config('')).components.shop!;
    expect('physical' in defaults && defaults.physical).toEqual({ fullReadEvery: '7d' });
    const askedByDefault: ExportInput[] = [];
    await exportArtifact({
      component: 'shop',
      config: defaults,
      recipe: askedRecipe(askedByDefault),
      outbox: {} as never,
      exportId: 'e0',
    });
    expect(askedByDefault[0]).toMatchObject({
      ownBackup: 'where-possible',
      fullReadEveryMs: 7 * 24 * 3600 * 1000,
    });
    const set = parseConfig(config('    physical: { ownBackup: true, fullReadEvery: 2d }')).components.shop!;
    const asked: ExportInput[] = [];
    await exportArtifact({
      component: 'shop',
      config: set,
      recipe: askedRecipe(asked),
      outbox: {} as never,
      exportId: 'e1',
    });
    expect(asked[0]).toMatchObject({ ownBackup: true, fullReadEveryMs: 2 * 24 * 3600 * 1000 });
  });

  it('refuses a full-read schedule that is no span', () => {
    expect(() => parseConfig(config('    physical: { fullReadEvery: weekly }'))).toThrow(ConfigError);
  });
});

describe("a postgres component's WAL", () => {
  it('keeps no spare segment files by default, the count asked for, and refuses a negative one', () => {
    const wal = (text: string) => {
      const component = parseConfig(config(text)).components.shop!;
      return 'wal' in component ? component.wal : undefined;
    };
    expect(wal('')).toMatchObject({ enabled: true, spares: 0 });
    expect(wal('    wal: { spares: 32 }')).toMatchObject({ enabled: true, spares: 32 });
    expect(() => wal('    wal: { spares: -1 }')).toThrow(ConfigError);
  });
});
