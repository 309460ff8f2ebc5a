import type { PostgresComponentConfig } from './schema.js';

/** The replication slot of a component's WAL receiver: configured, or `pullback_<component>`. */
export function walSlotName(name: string, component: Pick<PostgresComponentConfig, 'wal'>): string {
  return component.wal.slot ?? `pullback_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}
