import {
  type ArtifactManifest,
  ArtifactWriter,
  checkExportId,
  type ExportInput,
  FILES_KIND,
  RecipeError,
} from '@pullback/pipeline/core';
import { packTree } from './tree-tar.js';

export const RECIPE_NAME = 'files';

/** The files artifact's one data object. */
export const FILES_OBJECT = 'files.tar';

/**
 * Exports the directory tree `input.path` as one tar stream, `<exportId>/files.tar`,
 * then COMPLETE (with the tree's counts in `details`). On failure it removes what it
 * wrote and rejects with one line naming the export.
 */
export async function exportFiles(input: ExportInput): Promise<ArtifactManifest> {
  checkExportId(input.exportId);
  const what = `export ${input.exportId} of ${input.component}`;
  if (input.path === undefined || input.path === '') {
    throw new RecipeError(`${what}: no path to export`, {
      permanent: true,
      hint: 'a files component needs `path:` in the config',
    });
  }
  const begun = await ArtifactWriter.begin(input);
  if (!(begun instanceof ArtifactWriter)) return begun;
  const writer = begun;
  try {
    const tree = packTree(input.path, {
      ...(input.signal === undefined ? {} : { signal: input.signal }),
      ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
    });
    await writer.saveStream(FILES_OBJECT, tree.stream);
    return await writer.commit({
      component: input.component,
      recipe: RECIPE_NAME,
      kind: FILES_KIND,
      details: { path: input.path, ...tree.stats },
    });
  } catch (error) {
    const cleanup = await writer.discardAfterFailure();
    const code = (error as NodeJS.ErrnoException).code;
    throw new RecipeError(`${what}: ${(error as Error).message}${cleanup}`, {
      cause: error,
      // A missing or unreadable source stays so on a retry.
      permanent: code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR',
    });
  }
}
