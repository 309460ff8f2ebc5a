import { type ActivationRequest, chooseCandidate, type Fallback } from '@pullback/election';
import type { ComponentConfig, Registry } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';
import { readActivationRequest } from './activation-request.js';
import { agentAddress, findInstance } from './agent-addresses.js';
import type { AgentClient } from './agent-client.js';

export interface SwitchoverRequestOptions {
  readonly registry: Registry;
  readonly component: string;
  readonly config: ComponentConfig;
  readonly agents: AgentClient;
  /** The target; default: the best candidate (`chooseCandidate`). */
  readonly to?: string;
  /** Who switches over, for the history. */
  readonly by: string;
  /** The role the target is asked over SQL as. Default: `postgres`. */
  readonly user?: string;
}

export type SwitchoverRequest =
  | { readonly ok: true; readonly request: ActivationRequest; readonly oldActive: string }
  | { readonly ok: false; readonly reason: string };

/**
 * The activation request of a switchover (docs/election.md "Switchover"), or why there
 * can be none, decided before any epoch is taken: the component has an active whose
 * agent answers as the active's, and the target (`to`, else the best candidate) is a
 * healthy fallback of priority above 0, not behind the archive, that streams from it.
 */
export async function readSwitchoverRequest(options: SwitchoverRequestOptions): Promise<SwitchoverRequest> {
  const { registry, component, config } = options;
  const record = await registry.requireComponent(component);
  const refuse = (target: string | undefined, reason: string): SwitchoverRequest => ({
    ok: false,
    reason: `cannot switch ${component} over${target === undefined ? '' : ` to ${target}`}: ${reason}`,
  });
  const oldActive = record.active;
  if (oldActive === undefined) return refuse(options.to, `${component} has no active`);
  if (options.to !== undefined && findInstance(config, options.to) === undefined) {
    return refuse(options.to, `${options.to} is not an instance of ${component}`);
  }
  if (options.to === oldActive) return refuse(options.to, `${oldActive} is the active already`);

  const requestFor = async (candidate: string) =>
    ({
      ...(await readActivationRequest(registry, {
        component,
        candidate,
        activeFailed: false,
        reason: 'switchover',
        by: options.by,
      })),
      switchover: true,
    }) satisfies ActivationRequest;
  // The registry's fallbacks, each as the activation sees it.
  const names =
    options.to === undefined
      ? (await registry.instances(component)).filter((i) => i.role === 'fallback').map((i) => i.name)
      : [options.to];
  const requests = await Promise.all(names.map(requestFor));
  const fallbacks = requests.flatMap((r) => (r.candidate === undefined ? [] : [r.candidate]));
  if (options.to !== undefined && fallbacks.length === 0) {
    return refuse(options.to, `${options.to} is not a fallback of ${component}`);
  }
  const first = requests[0];
  const choice = chooseCandidate(fallbacks, {
    maxLagBytes: first?.maxLagBytes ?? 0,
    ...(first?.archiveLsn === undefined ? {} : { archiveLsn: first.archiveLsn }),
  });
  const chosen: Fallback | undefined = choice.chosen;
  if (chosen === undefined) {
    const why = choice.excluded.map((e) => e.reason).join('; ') || `${component} has no fallback`;
    return refuse(options.to, options.to === undefined ? `no fallback can take over: ${why}` : why);
  }
  const request = requests.find((r) => r.candidateName === chosen.name) as ActivationRequest;

  const oldInstance = findInstance(config, oldActive);
  const agent = oldInstance === undefined ? undefined : agentAddress(oldInstance);
  if (agent === undefined) {
    return refuse(
      chosen.name,
      `the active ${oldActive} has no agent to shut it down cleanly; HINT: add agent: { port: PORT } to it`,
    );
  }
  const target = findInstance(config, chosen.name);
  // Asked at once: a switchover is waited for.
  const [recorded, receiver] = await Promise.all([
    options.agents.epoch(agent).catch((error: Error) => error),
    target === undefined
      ? undefined
      : query(
          { host: target.host, port: target.port, user: options.user ?? 'postgres' },
          'select status from pg_stat_wal_receiver',
          // replayedLsn's statement timeout: the catch-up then reuses this pooled connection.
          { statementTimeoutMs: 5000, signal: AbortSignal.timeout(5000) },
        ).catch(() => undefined),
  ]);
  if (recorded instanceof Error) return refuse(chosen.name, recorded.message);
  if (recorded !== undefined && recorded.active !== oldActive) {
    return refuse(
      chosen.name,
      `the agent of ${oldActive} has epoch ${recorded.epoch} naming ${recorded.active} active`,
    );
  }
  // Only a streaming fallback is sure to receive the old active's last records: its
  // WAL sender waits, at a clean shutdown, until every byte is flushed on the fallback.
  if (receiver !== 'streaming') {
    return refuse(
      chosen.name,
      `${chosen.name} is not streaming WAL (${receiver === undefined ? 'no answer' : receiver || 'no WAL receiver'})`,
    );
  }
  return { ok: true, request, oldActive };
}
