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
 * The recipe of a component, by its config's `recipe`: the only place that maps
 * names to recipe packages. Adding a recipe adds a case here.
 */
export function builtInRecipes(options: BuiltInRecipeOptions = {}): (component: ComponentConfig) => Recipe {
  const postgres = postgresRecipe(options.postgres ?? {});
  const files = filesRecipe();
  return (component) => {
    switch (component.recipe) {
      case 'postgres':
        return postgres;
      case 'files':
        return files;
    }
  };
}

/** Ends what the recipes keep open between jobs (the postgres recipe's connection pools). */
export function closeBuiltInRecipes(): Promise<void> {
  return closePools();
}
