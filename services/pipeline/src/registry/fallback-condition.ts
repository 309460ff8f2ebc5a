import type { InstanceStatus } from './read-status.js';

/** A fallback's condition in one word. */
export type FallbackCondition = 'unknown' | 'healthy' | 'unhealthy' | 'down';

export const FALLBACK_CONDITIONS: readonly FallbackCondition[] = ['healthy', 'unhealthy', 'down', 'unknown'];

/** A fallback's state in one word, as `status`, the dashboard and the metrics show it. */
export function fallbackCondition(instance: Pick<InstanceStatus, 'state'>): FallbackCondition {
  const state = instance.state;
  return state === undefined ? 'unknown' : state.healthy ? 'healthy' : state.running ? 'unhealthy' : 'down';
}
