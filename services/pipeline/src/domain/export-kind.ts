import type { ArtifactKind } from '../artifact/format.js';
import type { ComponentConfig } from '../config/schema.js';
import { PipelineError } from './errors.js';

/**
 * Refuses an export of `kind` that component `component` cannot make, before anything
 * is queued or written: logical exports are for postgres components, the only ones
 * whose config has a `logical` key. Checked from the config alone, so the command
 * line needs no recipe to refuse.
 */
export function checkExportKind(component: string, config: ComponentConfig, kind: ArtifactKind): void {
  if (kind === 'logical' && config.recipe !== 'postgres') {
    throw new PipelineError(
      'unsupported-kind',
      `component ${component} (recipe ${config.recipe}) has no logical exports`,
      { hint: 'logical exports (pg_dump) are for postgres components; leave out --logical' },
    );
  }
}
