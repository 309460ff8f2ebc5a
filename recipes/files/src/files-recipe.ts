import { FILES_KIND, type Recipe } from '@pullback/pipeline/core';
import { exportFiles, RECIPE_NAME } from './export-files.js';

/**
 * The files recipe: a directory tree, exported as a tar. Importing is the archive's
 * restore of the tree alone; there is nothing to start or check, so it has no hooks.
 */
export function filesRecipe(): Recipe {
  return {
    name: RECIPE_NAME,
    kinds: [FILES_KIND],
    importKinds: [FILES_KIND],
    export: exportFiles,
  };
}
