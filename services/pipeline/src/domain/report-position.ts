import type { ComponentConfig } from '../config/schema.js';
import type { Recipe } from '../recipe.js';
import type { FallbackState } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { messageOf } from './errors.js';
import { instanceLocation } from './instance-location.js';

export interface ReportPositionInput {
  readonly component: string;
  readonly config: ComponentConfig;
  /** The fallback whose position is reported. */
  readonly instance: string;
  /** The component's recipe: its `position` asks the server where it stands. */
  readonly recipe: Recipe;
  readonly registry: Registry;
  /** Stops the report: an aborted one writes nothing. */
  readonly signal: AbortSignal;
}

const REPORTED_REASONS = new Set(['not running', 'not in recovery', 'starting']);
/** Prefix of the reason this reporter sets when it cannot ask the server where it is. */
const UNREACHABLE = 'not reachable: ';

/** A reason this reporter set itself, so that its next round may clear or change it. */
function reportedByPosition(reason: string | undefined): boolean {
  return REPORTED_REASONS.has(reason ?? '') || (reason ?? '').startsWith(UNREACHABLE);
}

/**
 * Refreshes a healthy fallback's position in the registry (replayed LSN and time,
 * timeline, where its WAL comes from, bytes behind the live active when that one
 * answers), or marks it unhealthy when it stopped, left recovery, is still starting
 * or cannot be asked. Only
 * fallbacks whose recipe can tell a position are reported, and only states this
 * reporter set are refreshed: a restore reports for itself, and a failed one keeps
 * its reason until the next restore.
 */
export async function reportFallbackPosition(input: ReportPositionInput): Promise<void> {
  const { registry, component: name, instance, recipe, signal } = input;
  const record = await registry.instance(instance);
  const state = record?.state;
  const location = instanceLocation(input.config, instance);
  if (record?.role !== 'fallback' || state === undefined || recipe.position === undefined || !location)
    return;
  if (!state.healthy && !reportedByPosition(state.reason)) return;
  const epoch = (await registry.component(name))?.epoch;
  if (epoch === undefined) return;
  const active = (await registry.component(name))?.active;
  const upstream = active === undefined ? undefined : instanceLocation(input.config, active);
  let update: FallbackState;
  try {
    const position = await recipe.position(location, {
      signal,
      ...(upstream === undefined ? {} : { upstream: { host: upstream.host, port: upstream.port } }),
    });
    const {
      lsn: _lsn,
      replayedAt: _replayedAt,
      reason: _reason,
      source: _source,
      behindBytes: _behindBytes,
      timeline: _timeline,
      ...rest
    } = state;
    const reason = !position.running
      ? 'not running'
      : position.starting === true
        ? 'starting'
        : position.inRecovery === false
          ? 'not in recovery'
          : undefined;
    const source = position.source ?? (position.running ? undefined : 'none');
    update = {
      ...rest,
      running: position.running,
      healthy: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      ...(position.lsn === undefined ? {} : { lsn: position.lsn }),
      ...(position.replayedAt === undefined ? {} : { replayedAt: position.replayedAt }),
      ...(source === undefined ? {} : { source }),
      ...(position.timeline === undefined ? {} : { timeline: position.timeline }),
      ...(position.behindBytes === undefined ? {} : { behindBytes: position.behindBytes }),
      updatedAt: new Date().toISOString(),
    };
  } catch (error) {
    // Stopped with the worker: the server was not asked to the end, so there is nothing to say.
    if (signal.aborted) return;
    // A server caught shutting down answers with an error: the next round, which finds
    // it stopped, must still be able to say so, hence a reason of this reporter's own.
    update = {
      ...state,
      healthy: false,
      reason: `${UNREACHABLE}${messageOf(error)}`,
      updatedAt: new Date().toISOString(),
    };
  }
  // The position query takes a while, and a restore may have reported a new snapshot
  // meanwhile: this update, built on the older state, is written only if that state
  // is still there (one script, so nothing can land between the check and the write).
  if (signal.aborted) return;
  await registry.replaceFallbackState(name, instance, epoch, state, update);
}
