import type { ComponentConfig, Recipe } from '@pullback/pipeline';
import { filesRecipe } from '@pullback/recipe-files';
import {
  closePools,
  type PostgresImportOptions,
  type PostgresRecipeOptions,
  postgresRecipe,
} from '@pullback/recipe-postgres';

/** Settings of the built-in recipes that are not in the config. */
export interface BuiltInRecipeOptions {
  /** For every postgres component (user, binDir, osUser, socketDir, ...). Default: the recipe's defaults. */
  readonly postgres?: PostgresRecipeOptions & PostgresImportOptions;
}

/**
 * The built-in recipes by name, the names a config's `recipe` and a snapshot's
 * `recipe` tag use: the only place that maps names to recipe packages. Adding a recipe
 * adds an entry here.
 */
function recipesByName(options: BuiltInRecipeOptions): Readonly<Record<ComponentConfig['recipe'], Recipe>> {
  return { postgres: postgresRecipe(options.postgres ?? {}), files: filesRecipe() };
}

/** The recipe of a component, by its config's `recipe`. */
export function builtInRecipes(options: BuiltInRecipeOptions = {}): (component: ComponentConfig) => Recipe {
  const recipes = recipesByName(options);
  return (component) => recipes[component.recipe];
}

/** The built-in recipe called `name` (a snapshot's `recipe` tag), or undefined when there is none. */
export function builtInRecipe(name: string, options: BuiltInRecipeOptions = {}): Recipe | undefined {
  const recipes: Readonly<Record<string, Recipe>> = recipesByName(options);
  return Object.hasOwn(recipes, name) ? recipes[name] : undefined;
}

/** Ends what the recipes keep open between jobs (the postgres recipe's connection pools). */
export function closeBuiltInRecipes(): Promise<void> {
  return closePools();
}
