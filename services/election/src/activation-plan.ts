import { chooseCandidate, type Fallback } from './choose-candidate.js';

/** What taking or renewing the active lease came to (as `Registry.acquireActiveLease` answers). */
export type LeaseStep =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string; readonly holder?: string };

/** An agent's answer to `POST /epoch`. */
export type RecordEpochAnswer =
  | {
      readonly outcome: 'accepted';
      /** The instance's server is stopped: where its WAL ends, from its pg_control (a switchover reads it). */
      readonly stopped?: {
        readonly state: string;
        readonly checkpointLsn: string;
        readonly timeline: number;
      };
    }
  | {
      readonly outcome: 'refused';
      readonly epoch: number;
      readonly reason?: string;
      /** Refused for a failsafe promise to the old active that lapses in this many ms: worth a later try. */
      readonly retryAfterMs?: number;
    }
  | { readonly outcome: 'unreachable'; readonly reason: string };

/** A step that can fail with one line. */
export type StepOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * The effects an activation runs, in the order of docs/election.md "Activation";
 * injected so that one code path serves `import --activate`, the election and
 * `switchover`, and so the order and the refusals are tested on their own.
 */
export interface ActivationEffects {
  /** `Registry.takeEpoch`. */
  takeEpoch(floor: number): Promise<number>;
  /**
   * A switchover only (docs/election.md "Switchover"): the healthy old active is shut
   * down cleanly (its agent records `epoch` naming `candidate`) and its lease given up,
   * before the lease is waited for.
   */
  shutDownOldActive?(epoch: number, candidate: string): Promise<StepOutcome>;
  /** Waits (at most about `activeLeaseMs`) until the active lease is absent; `holder` when it is still held. */
  waitLeaseLapsed(): Promise<{ readonly lapsed: true } | { readonly lapsed: false; readonly holder: string }>;
  /** The config's `fence` command, when set: a non-zero exit aborts. */
  runFence?(oldActive: string | undefined): Promise<StepOutcome>;
  /** `POST /epoch {epoch, active}` to `instance`'s agent. */
  recordEpoch(instance: string, epoch: number, active: string): Promise<RecordEpochAnswer>;
  /** The candidate replays the archive to its very end; `lostBytes`: what the old active had that the archive lacks, if known. */
  catchUp(
    candidate: string,
  ): Promise<(StepOutcome & { readonly ok: false }) | { readonly ok: true; readonly lostBytes?: number }>;
  /** `Registry.acquireActiveLease` for `candidate@epoch`. */
  acquireActiveLease(candidate: string, epoch: number): Promise<LeaseStep>;
  /** `POST /promote` to the candidate's agent (it promotes only if its record says `epoch` and itself). */
  promote(candidate: string, epoch: number): Promise<StepOutcome>;
  /** `Registry.setActive`; `epoch` the registry's when refused. */
  setActive(
    candidate: string,
    epoch: number,
  ): Promise<{ readonly ok: true } | { readonly ok: false; readonly epoch: number }>;
  /** Moves what follows the active: the export schedule, the WAL receiver, the other fallbacks' streaming. */
  moveFollowers?(candidate: string, epoch: number): Promise<void>;
  /** `Registry.recordActivation`. */
  recordActivation(record: {
    epoch: number;
    from?: string;
    to: string;
    at: string;
    reason: string;
    by: string;
    lostBytes?: number;
  }): Promise<void>;
  /** The time now (ISO 8601), for the history. */
  now(): string;
}

export interface ActivationRequest {
  readonly component: string;
  /** The fallback to activate, as the election sees it; undefined when it is not a fallback of the component. */
  readonly candidate: Fallback | undefined;
  readonly candidateName: string;
  /** The active now, if any. */
  readonly active?: string;
  /** The election's verdict on the active: true when it failed. */
  readonly activeFailed: boolean;
  /** Every other instance of the component (the old active included): told the new epoch, best effort. */
  readonly others: readonly string[];
  /** The highest epoch recorded on the instances and in the archive. */
  readonly floor: number;
  readonly archiveLsn?: string;
  readonly maxLagBytes: number;
  /** Activates though the active is healthy or the candidate is behind. */
  readonly force?: boolean;
  /** A planned switchover: the healthy active is no refusal, the effects shut it down cleanly. */
  readonly switchover?: boolean;
  /** Why (one line, for the history). */
  readonly reason: string;
  /** Who activates: `<hostname>:<pid>` of the election worker, or `cli`. */
  readonly by: string;
}

/** What an activation came to: done at `epoch`, or refused with one line (at `epoch` when one was taken). */
export type ActivationResult =
  | {
      readonly ok: true;
      readonly epoch: number;
      readonly steps: readonly string[];
      readonly warnings: readonly string[];
      readonly lostBytes?: number;
    }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly epoch?: number;
      readonly steps: readonly string[];
    };

/**
 * Activates `request.candidateName` (docs/election.md "Activation"): check, take an
 * epoch, wait for the old lease to lapse and fence, record the epoch on the
 * instances, catch up, take the lease and promote, then move the registry and what
 * follows the active. Stops at the first refusal, saying why in one line; nothing
 * after the refused step runs.
 */
export async function activate(
  request: ActivationRequest,
  effects: ActivationEffects,
): Promise<ActivationResult> {
  const { component, candidateName: name } = request;
  const steps: string[] = [];
  let epoch: number | undefined;
  const refuse = (reason: string): ActivationResult => ({
    ok: false,
    reason: `cannot activate ${name} of ${component}: ${reason}`,
    ...(epoch === undefined ? {} : { epoch }),
    steps,
  });
  try {
    const refusal = checkCandidate(request);
    if (refusal !== undefined) return refuse(refusal);
    steps.push('check');

    epoch = await effects.takeEpoch(request.floor);
    steps.push(`epoch ${epoch}`);

    if (effects.shutDownOldActive !== undefined) {
      const down = await effects.shutDownOldActive(epoch, name);
      if (!down.ok) return refuse(`the active ${request.active} was not shut down cleanly: ${down.reason}`);
      steps.push('old active shut down');
    }
    const lease = await effects.waitLeaseLapsed();
    if (!lease.lapsed) return refuse(`the active lease is still held by ${lease.holder}`);
    steps.push('lease lapsed');
    if (effects.runFence !== undefined) {
      const fenced = await effects.runFence(request.active);
      if (!fenced.ok) return refuse(`the fence command failed: ${fenced.reason}`);
      steps.push('fenced');
    }

    const recorded = await recordOutwaitingPromises(effects, name, epoch, name);
    if (recorded.outcome === 'refused') return refuse(newerEpochSeen(name, recorded.epoch, recorded.reason));
    if (recorded.outcome === 'unreachable')
      return refuse(`its agent did not take epoch ${epoch}: ${recorded.reason}`);
    steps.push(`recorded on ${name}`);
    const answers = await Promise.all(
      request.others.map((other) => recordOutwaitingPromises(effects, other, epoch as number, name)),
    );
    for (const [i, answer] of answers.entries()) {
      const other = request.others[i] as string;
      if (answer.outcome === 'refused') return refuse(newerEpochSeen(other, answer.epoch, answer.reason));
      steps.push(answer.outcome === 'accepted' ? `recorded on ${other}` : `${other} unreachable`);
    }

    const caughtUp = await effects.catchUp(name);
    if (!caughtUp.ok) return refuse(`catching up with the archive failed: ${caughtUp.reason}`);
    steps.push('caught up');

    const taken = await effects.acquireActiveLease(name, epoch);
    if (!taken.ok) return refuse(`the active lease was not granted: ${taken.reason}`);
    steps.push('lease taken');
    const promoted = await effects.promote(name, epoch);
    if (!promoted.ok) return refuse(`promotion failed: ${promoted.reason}`);
    steps.push('promoted');

    const moved = await effects.setActive(name, epoch);
    if (!moved.ok) return refuse(`the registry moved on to epoch ${moved.epoch}`);
    steps.push('registry active');

    const warnings: string[] = [];
    if (effects.moveFollowers !== undefined) {
      try {
        await effects.moveFollowers(name, epoch);
        steps.push('followers moved');
      } catch (error) {
        warnings.push(`moving the schedule, receiver and fallbacks to ${name} failed: ${messageOf(error)}`);
      }
    }
    await effects.recordActivation({
      epoch,
      ...(request.active === undefined ? {} : { from: request.active }),
      to: name,
      at: effects.now(),
      reason: request.reason,
      by: request.by,
      ...(caughtUp.lostBytes === undefined ? {} : { lostBytes: caughtUp.lostBytes }),
    });
    steps.push('history');
    return {
      ok: true,
      epoch,
      steps,
      warnings,
      ...(caughtUp.lostBytes === undefined ? {} : { lostBytes: caughtUp.lostBytes }),
    };
  } catch (error) {
    return refuse(messageOf(error));
  }
}

/** How long a record refused for failsafe promises is tried again: past two promises' length (3 s each by default). */
export const PROMISE_WAIT_MS = 10_000;

/**
 * `effects.recordEpoch`, tried again while it is refused for failsafe promises that
 * lapse by themselves: those an old active asked for while Redis was away, still live
 * for a moment after it came back or stopped (soak:election saw a switchover refused
 * for one with 94 ms left, the old active already shut down, and no active for 34 s).
 * An old active that keeps renewing them (it runs, and cannot reach Redis) keeps the
 * refusal: its promises are what keeps two actives from running.
 */
async function recordOutwaitingPromises(
  effects: Pick<ActivationEffects, 'recordEpoch'>,
  instance: string,
  epoch: number,
  active: string,
): Promise<RecordEpochAnswer> {
  const deadline = Date.now() + PROMISE_WAIT_MS;
  for (;;) {
    const answer = await effects.recordEpoch(instance, epoch, active);
    if (answer.outcome !== 'refused' || answer.retryAfterMs === undefined || answer.epoch >= epoch)
      return answer;
    const wait = answer.retryAfterMs + 20;
    if (Date.now() + wait > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Step 1: the refusal (one line), or undefined when the candidate may be activated. */
function checkCandidate(request: ActivationRequest): string | undefined {
  const { candidate, candidateName: name } = request;
  if (candidate === undefined) return `${name} is not a fallback of ${request.component}`;
  if (request.active !== undefined && !request.activeFailed && !request.force && !request.switchover) {
    return `the active ${request.active} is healthy (--force to activate anyway)`;
  }
  const choice = chooseCandidate([candidate], {
    maxLagBytes: request.maxLagBytes,
    ...(request.archiveLsn === undefined ? {} : { archiveLsn: request.archiveLsn }),
    ...(request.force ? { force: true } : {}),
  });
  return choice.excluded[0]?.reason;
}

function newerEpochSeen(instance: string, epoch: number, reason: string | undefined): string {
  return `${instance} has epoch ${epoch} recorded: someone else activated${reason ? ` (${reason})` : ''}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
