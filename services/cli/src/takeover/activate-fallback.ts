import { activate } from '@pullback/election';
import type { Config } from '@pullback/pipeline';
import {
  AgentClient,
  activationEffects,
  activeHealth,
  readActivationRequest,
  resolveAgentToken,
} from '@pullback/worker-election';
import { CliError } from '../errors.js';
import { openReachablePipeline } from '../reach-redis.js';
import type { TakeoverIo } from './takeover-io.js';

export interface ActivateFallbackRequest {
  readonly config: Config;
  /** The config's path, named in the refusals. */
  readonly configPath: string;
  readonly instance: string;
  readonly force?: boolean;
  /** Why, in the operator's words, added to the history's `by hand`. */
  readonly reason?: string;
  /** Who asked, for the history: `cli`, `dashboard: <remote address>`. */
  readonly by: string;
}

/**
 * Makes fallback `instance` the active by hand, by the same path as the election
 * (`activate()`, docs/election.md "Activation"): `pullback import NAME --activate` and
 * the dashboard's `POST /actions/activate`. Refused, in one line (a CliError), while
 * the active is healthy or the fallback is stale, unless `force`.
 */
export async function activateFallback(request: ActivateFallbackRequest, io: TakeoverIo): Promise<void> {
  const { config, configPath: path, instance } = request;
  const force = request.force === true;
  const entry = Object.entries(config.components).find(([, c]) =>
    c.instances.some((i) => i.name === instance),
  );
  if (entry === undefined) throw new CliError(`no instance ${instance} in ${path}`);
  const [component, componentConfig] = entry;
  // Checked before anything is taken: without its agent, the epoch would be spent for nothing.
  if (componentConfig.instances.find((i) => i.name === instance)?.agent === undefined) {
    throw new CliError(
      `cannot activate ${instance}: it has no agent in ${path}; HINT: add agent: { port: PORT } to it and run its agent next to it`,
    );
  }
  const agentToken = await resolveAgentToken(config).catch((error: Error) => {
    throw new CliError(error.message);
  });
  const agents = new AgentClient({ agentToken });
  const pipeline = await openReachablePipeline(config.redis);
  try {
    const { active } = await pipeline.registry.requireComponent(component);
    const health =
      active === undefined || active === instance
        ? { healthy: false as const }
        : await activeHealth({
            registry: pipeline.registry,
            component,
            config: componentConfig,
            active,
            agents,
          });
    if (health.healthy && !force) {
      throw new CliError(
        `cannot activate ${instance} of ${component}: the active ${active} is healthy (${health.why}); HINT: --force to activate anyway`,
      );
    }
    const byHand = force ? 'by hand --force' : 'by hand';
    const activation = await readActivationRequest(pipeline.registry, {
      component,
      candidate: instance,
      activeFailed: !health.healthy,
      ...(force ? { force: true } : {}),
      reason: request.reason === undefined ? byHand : `${byHand}: ${request.reason}`,
      by: request.by,
    });
    const result = await activate(
      activation,
      activationEffects({
        pipeline,
        config,
        component,
        ...(active === undefined ? {} : { oldActive: active }),
        agents,
        signal: io.signal,
      }),
    );
    if (!result.ok) throw new CliError(result.reason);
    io.say(
      `activated ${instance} of ${component} at epoch ${result.epoch} (was ${active ?? 'none'}); lost: ${
        result.lostBytes === undefined ? 'unknown' : `${result.lostBytes} bytes`
      }`,
    );
    for (const warning of result.warnings) io.warn(warning);
  } finally {
    await pipeline.close();
  }
}
