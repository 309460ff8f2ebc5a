import { rowsOn, SANDBOX_COMPONENT } from '@pullback/cli/demo';
import type { Fault } from './fault.js';
import { repairStuckFallbacks } from './repair.js';
import { recover, type SoakWorld, untilValue } from './world.js';
import { sampleWritable } from './writable-sampler.js';

/** One round of the soak as judged. */
export interface RoundResult {
  readonly round: number;
  readonly fault: string;
  readonly outcome: string;
  /** The fault's figure (see FaultResult.seconds); undefined when the round failed before it. */
  readonly seconds: number | undefined;
  readonly lost: number;
  readonly lostOutsideRpo: number;
  /** Of the lost, the writes acknowledged after the fault (an old active that took writes it then lost). */
  readonly lostAfterFault: number;
  readonly twoWritable: boolean;
  /** Why the round failed (did not recover, or broke an expectation), one line each. */
  readonly failures: readonly string[];
  /** From the fault to every instance whole again (s). */
  readonly recoveredSeconds: number | undefined;
}

/**
 * Runs `fault` with every instance's writability sampled throughout, judges which
 * acknowledged writes the active after it lacks (those of writes since `judgedUpTo`),
 * waits until the component is whole again, and checks the round's activations.
 */
export async function runRound(
  w: SoakWorld,
  round: number,
  fault: Fault,
  occurrence: number,
  judgedUpTo: number,
): Promise<RoundResult> {
  const epochBefore = (await w.component()).epoch;
  const sampler = sampleWritable(w.box, w.endpoints);
  const failures: string[] = [];
  let result: Awaited<ReturnType<Fault['run']>> | undefined;
  let lost: { n: number; startedAt: number; at: number }[] = [];
  let recoveredSeconds: number | undefined;
  try {
    result = await fault.run(w, occurrence);
    failures.push(...result.problems);
    // Every write acknowledged so far, before the fault or after it, must be on the active now.
    const acknowledged = w.writer.acknowledged.slice(judgedUpTo);
    // The active may still be restarting, or have moved since: its rows once it answers.
    const rows = await untilValue("the active's rows", 120_000, async () =>
      rowsOn(w.box, w.port(await w.active())),
    );
    lost = acknowledged.filter((write) => !rows.has(write.n));
    await recover(w).catch(async (error: Error) => {
      // Not whole by itself: a failed round; repaired as an operator would, so the next rounds can run.
      failures.push(`not whole again by itself: ${error.message.split('\n')[0]}`);
      const repaired = await repairStuckFallbacks(w);
      if (repaired.length === 0) throw error;
      await recover(w);
      failures.push(`repaired by hand: ${repaired.join(', ')} rewound again`);
    });
    recoveredSeconds = (Date.now() - result.faultAt) / 1000;
    const activations = (await w.registry.activations(SANDBOX_COMPONENT)).filter(
      (record) => record.epoch > epochBefore,
    );
    if (!result.activations.includes(activations.length))
      failures.push(
        `${activations.length} activations recorded (${activations.map((a) => `${a.from} -> ${a.to} at ${a.epoch} by ${a.by}`).join(', ')}), expected ${result.activations.join(' or ')}`,
      );
    const now = await w.component();
    if (now.active !== result.to)
      failures.push(`the active moved again after the round: ${result.to} -> ${now.active}`);
  } catch (error) {
    // The round failed; the next can run only once the component is whole again by itself.
    const why = (error as Error).message.split('\n')[0];
    const whole = await recover(w).then(
      () => true,
      () => false,
    );
    failures.push(whole ? `failed, whole again later: ${why}` : `did not recover: ${why}`);
  }
  const { overlaps } = await sampler.stop();
  const faultAt = result?.faultAt ?? Number.POSITIVE_INFINITY;
  const twoWritable = overlaps.length > 0;
  return {
    round,
    fault: fault.name,
    outcome: result?.outcome ?? 'FAILED',
    seconds: result?.seconds,
    lost: lost.length,
    lostOutsideRpo: lost.filter((write) => write.at < faultAt - (result?.rpoMs ?? 0)).length,
    lostAfterFault: lost.filter((write) => write.startedAt > faultAt).length,
    twoWritable,
    failures: [...failures, ...overlaps.map((pair) => `two writable: ${pair}`)],
    recoveredSeconds,
  };
}

/** The round's line as printed. */
export function describeRound(r: RoundResult, rounds: number): string {
  const seconds = r.seconds === undefined ? '-' : `${r.seconds.toFixed(1)} s`;
  const failed = r.failures.length === 0 ? '' : `; FAILED: ${r.failures.join('; ')}`;
  const recovered =
    r.recoveredSeconds === undefined ? '' : `, whole again after ${r.recoveredSeconds.toFixed(0)} s`;
  return `round ${r.round}/${rounds} ${r.fault}: ${r.outcome}; ${seconds}, lost ${r.lost} (${r.lostOutsideRpo} outside the RPO, ${r.lostAfterFault} acknowledged after the fault), two writable: ${r.twoWritable ? 'YES' : 'no'}${recovered}${failed}`;
}
