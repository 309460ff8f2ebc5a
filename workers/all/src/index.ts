export { type BuiltInRecipeOptions, builtInRecipe, builtInRecipes } from './built-in-recipes.js';
export { type RunningPipeline, type StartAllOptions, startAll } from './start-all.js';
export { type RunningInstance, type StartInstanceOptions, startInstance } from './start-instance.js';
