import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** Every TypeScript source of the CLI, relative to its package. */
async function sources(): Promise<string[]> {
  const entries = await readdir(join(packageDir, 'src'), { recursive: true });
  return entries.filter((name) => name.endsWith('.ts')).map((name) => join('src', name));
}

describe('the CLI and the recipes', () => {
  it('reaches recipes only through the Recipe contract and the workers, never a recipe package', async () => {
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    expect(
      Object.keys(manifest.dependencies ?? {}).filter((name) => name.startsWith('@pullback/recipe-')),
    ).toEqual([]);
    const importing: string[] = [];
    for (const file of await sources()) {
      const text = await readFile(join(packageDir, file), 'utf8');
      if (/from\s+['"]@pullback\/recipe-|import\(\s*['"]@pullback\/recipe-/.test(text)) importing.push(file);
    }
    expect(importing).toEqual([]);
  });
});
