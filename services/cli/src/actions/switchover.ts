import { hostname, userInfo } from 'node:os';
import { activate } from '@pullback/election';
import {
  AgentClient,
  activationEffects,
  findInstance,
  readSwitchoverRequest,
  rejoinOldActive,
  resolveAgentToken,
  switchoverEffects,
} from '@pullback/worker-election';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { openReachablePipeline } from '../reach-redis.js';

export interface SwitchoverOptions {
  readonly config?: string;
  readonly to?: string;
}

/**
 * `pullback switchover COMPONENT [--to NAME]` (docs/election.md "Switchover"): the
 * planned change of active, by the activation's one code path, with the old active shut
 * down cleanly and the target caught up with its last record before it is promoted; then
 * the old active, when its data directory is on this host, follows the new one.
 */
export async function switchover(
  componentName: string,
  options: SwitchoverOptions,
  context: CommandContext,
): Promise<void> {
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(2);
  const say = (line: string) => context.stdout.write(`${line}\n`);
  const { config, path } = await loadCliConfig(options.config, context.env);
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
      ...(options.to === undefined ? {} : { to: options.to }),
      by: whoSwitches(),
    });
    if (!planned.ok) throw new CliError(planned.reason);
    const { request, oldActive } = planned;
    const target = request.candidateName;
    say(`switching ${componentName} over from ${oldActive} to ${target}`);
    const effects = switchoverEffects(
      activationEffects({
        pipeline,
        config,
        component: componentName,
        oldActive,
        agents,
        signal: context.signal,
      }),
      {
        registry: pipeline.registry,
        component: componentName,
        config: component,
        oldActive,
        agents,
        progress: say,
        signal: context.signal,
      },
    );
    const promote = effects.promote;
    effects.promote = async (candidate, epoch) => {
      const promoted = await promote(candidate, epoch);
      if (promoted.ok)
        say(`${candidate} promoted at epoch ${epoch}: it takes writes, ${seconds()} s after the start`);
      return promoted;
    };
    const result = await activate(request, effects);
    if (!result.ok) {
      throw new CliError(
        result.epoch === undefined
          ? result.reason
          : `${result.reason}; HINT: epoch ${result.epoch} is taken, so ${oldActive} does not run as the active again: activate a fallback with pullback import ${target} --activate`,
      );
    }
    for (const warning of result.warnings) context.stderr.write(`pullback: warning: ${warning}\n`);
    say(
      `switched ${componentName} over from ${oldActive} to ${target} at epoch ${result.epoch}; lost: 0 bytes`,
    );

    const old = findInstance(component, oldActive);
    const now = findInstance(component, target);
    if (old === undefined || now === undefined) return;
    const rejoined = await rejoinOldActive(old, now, pipeline.registry).catch((error: Error) => ({
      following: false as const,
      why: error.message,
    }));
    say(
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

/** `<user>@<host>`, for the history; a uid with no name in the password database is given as its number. */
function whoSwitches(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? 'unknown');
  }
  return `${user}@${hostname()}`;
}
