import { type CatchUpFallbackInput, catchUpFallback } from '@pullback/pipeline';

/**
 * How the reason ends when a fallback's agent can neither start its server nor rewind
 * it (workers/agent server-supervisor.ts and rejoin.ts: an old active that cannot
 * rejoin with pg_rewind, a data directory that is no standby's).
 */
export const NEEDS_RESEED = 'it needs reseeding';

/**
 * Queues the newest snapshot at once (catchUpFallback) for a fallback its agent
 * reported as needing a reseed, rather than leaving it down until the next snapshot
 * arrives; the import then restores it (its failed state makes judgeFallback reseed).
 * Once per report: `seen` keeps, per instance, the report already acted on.
 */
export async function queueAskedReseed(
  input: CatchUpFallbackInput & { readonly seen: Map<string, string> },
): Promise<boolean> {
  const state = (await input.registry.instance(input.instance))?.state;
  if (state === undefined || state.healthy || !(state.reason ?? '').endsWith(NEEDS_RESEED)) return false;
  if (input.seen.get(input.instance) === state.updatedAt) return false;
  input.seen.set(input.instance, state.updatedAt);
  await catchUpFallback(input);
  return true;
}
