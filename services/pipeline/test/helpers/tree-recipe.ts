import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pack } from 'tar-stream';
import {
  type ArtifactManifest,
  ArtifactWriter,
  type ExportInput,
  type Recipe,
  RecipeError,
} from '../../src/index.js';

/**
 * A recipe for the pipeline's own tests (the real ones depend on this package): the
 * tree at `input.path` as one tar, `tree.tar`, held in memory (test data is small).
 * `afterRestore` can be made to fail, to play a fallback that does not start.
 */
export function treeRecipe(options: { failStart?: () => string | undefined } = {}): Recipe {
  return {
    name: 'tree',
    kinds: ['physical'],
    importKinds: ['physical'],
    async export(input: ExportInput): Promise<ArtifactManifest> {
      if (input.path === undefined) throw new RecipeError('no path', { permanent: true });
      const begun = await ArtifactWriter.begin(input);
      if (!(begun instanceof ArtifactWriter)) return begun;
      const tar = pack();
      const body = new PassThrough();
      tar.pipe(body);
      const saving = begun.saveStream('tree.tar', body);
      await addTree(tar, input.path, '');
      tar.finalize();
      await saving;
      return begun.commit({ component: input.component, recipe: 'tree', kind: 'physical' });
    },
    async afterRestore(target) {
      const failure = options.failStart?.();
      if (failure !== undefined) throw new RecipeError(`${target.instance.name} did not start: ${failure}`);
      return { running: false };
    },
  };
}

async function addTree(tar: ReturnType<typeof pack>, root: string, relative: string): Promise<void> {
  for (const name of (await readdir(join(root, relative))).sort()) {
    const path = join(relative, name);
    const info = await lstat(join(root, path));
    const header = { name: path, mode: info.mode & 0o7777, mtime: info.mtime };
    if (info.isDirectory()) {
      tar.entry({ ...header, type: 'directory' });
      await addTree(tar, root, path);
    } else if (info.isSymbolicLink()) {
      tar.entry({ ...header, type: 'symlink', linkname: await readlink(join(root, path)) });
    } else {
      await new Promise<void>((resolve, reject) => {
        readFile(join(root, path)).then(
          (bytes) =>
            tar.entry({ ...header, type: 'file' }, bytes, (error) => (error ? reject(error) : resolve())),
          reject,
        );
      });
    }
  }
}
