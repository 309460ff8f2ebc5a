export { exportFiles, FILES_OBJECT, RECIPE_NAME } from './export-files.js';
export { filesRecipe } from './files-recipe.js';
export { packTree, type TreeStats } from './tree-tar.js';
