import { activate } from '@pullback/election';
import type { Config } from '@pullback/pipeline';
import {
  AgentClient,
  activationEffects,
  findInstance,
  readSwitchoverRequest,
  rejoinOldActive,
  resolveAgentToken,
  switchoverEffects,
} from '@pullback/worker-election';
import { CliError } from '../errors.js';
import { openReachablePipeline } from '../reach-redis.js';
import type { TakeoverIo } from './takeover-io.js';

export interface SwitchOverRequest {
  readonly config: Config;
  /** The config's path, named in the refusals. */
  readonly configPath: string;
  readonly component: string;
  /** The fallback to switch to; by default the election's choice. */
  readonly to?: string;
  /** Who asked, for the history: `<user>@<host>`, `dashboard: <remote address>`. */
  readonly by: string;
}

/**
 * The planned change of active (docs/election.md "Switchover"), by the activation's one
 * code path, with the old active shut down cleanly and the target caught up with its
 * last record before it is promoted; then the old active, when its data directory is on
 * this host, follows the new one. `pullback switchover` and the dashboard's `POST
 * /actions/switchover`. Refusals are one line (a CliError).
 */
export async function switchOver(request: SwitchOverRequest, io: TakeoverIo): Promise<void> {
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(2);
  const { config, configPath: path, component: componentName } = request;
  const component = config.components[componentName];
  if (component === undefined) throw new CliError(`no component ${componentName} in ${path}`);
  if (component.recipe !== 'postgres') {
    throw new CliError(
      `cannot switch ${componentName} over: it is a ${component.recipe} component, with no active`,
    );
  }
  const agentToken = await resolveAgentToken(config).catch((error: Error) => {
    throw new CliError(error.message);
  });
  const agents = new AgentClient({ agentToken });
  const pipeline = await openReachablePipeline(config.redis);
  try {
    const planned = await readSwitchoverRequest({
      registry: pipeline.registry,
      component: componentName,
      config: component,
      agents,
      ...(request.to === undefined ? {} : { to: request.to }),
      by: request.by,
    });
    if (!planned.ok) throw new CliError(planned.reason);
    const { request: activation, oldActive } = planned;
    const target = activation.candidateName;
    io.say(`switching ${componentName} over from ${oldActive} to ${target}`);
    const effects = switchoverEffects(
      activationEffects({
        pipeline,
        config,
        component: componentName,
        oldActive,
        agents,
        signal: io.signal,
      }),
      {
        registry: pipeline.registry,
        component: componentName,
        config: component,
        oldActive,
        agents,
        progress: (line) => io.say(line),
        signal: io.signal,
      },
    );
    const promote = effects.promote;
    effects.promote = async (candidate, epoch) => {
      const promoted = await promote(candidate, epoch);
      if (promoted.ok)
        io.say(`${candidate} promoted at epoch ${epoch}: it takes writes, ${seconds()} s after the start`);
      return promoted;
    };
    const result = await activate(activation, effects);
    if (!result.ok) {
      throw new CliError(
        result.epoch === undefined
          ? result.reason
          : `${result.reason}; HINT: epoch ${result.epoch} is taken, so ${oldActive} does not run as the active again: activate a fallback with pullback import ${target} --activate`,
      );
    }
    for (const warning of result.warnings) io.warn(warning);
    io.say(
      `switched ${componentName} over from ${oldActive} to ${target} at epoch ${result.epoch}; lost: 0 bytes`,
    );

    const old = findInstance(component, oldActive);
    const now = findInstance(component, target);
    if (old === undefined || now === undefined) return;
    const rejoined = await rejoinOldActive(old, now, pipeline.registry).catch((error: Error) => ({
      following: false as const,
      why: error.message,
    }));
    io.say(
      rejoined.following
        ? `${oldActive} follows ${target} as a fallback`
        : 'busy' in rejoined
          ? `${oldActive} is set up as a fallback of ${target} by its agent (${rejoined.why})`
          : `${oldActive} stays stopped (${rejoined.why}); its agent rejoins it as a fallback`,
    );
  } finally {
    await pipeline.close();
  }
}
