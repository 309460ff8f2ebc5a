import { activate } from '@pullback/election';
import {
  AgentClient,
  activationEffects,
  activeHealth,
  readActivationRequest,
  resolveAgentToken,
} from '@pullback/worker-election';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { openReachablePipeline } from '../reach-redis.js';

export interface ImportActivateOptions {
  readonly config?: string;
  readonly force?: boolean;
}

/**
 * `pullback import <instance> --activate`: makes fallback INSTANCE the active by hand,
 * by the same path as the election (`activate()`, docs/election.md "Activation").
 * Refused, in one line, while the active is healthy or the fallback is stale, unless
 * `--force`.
 */
export async function importActivate(
  instance: string,
  options: ImportActivateOptions,
  context: CommandContext,
): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
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
    if (health.healthy && !options.force) {
      throw new CliError(
        `cannot activate ${instance} of ${component}: the active ${active} is healthy (${health.why}); HINT: --force to activate anyway`,
      );
    }
    const request = await readActivationRequest(pipeline.registry, {
      component,
      candidate: instance,
      activeFailed: !health.healthy,
      ...(options.force ? { force: true } : {}),
      reason: options.force ? 'by hand --force' : 'by hand',
      by: 'cli',
    });
    const result = await activate(
      request,
      activationEffects({
        pipeline,
        config,
        component,
        ...(active === undefined ? {} : { oldActive: active }),
        agents,
        signal: context.signal,
      }),
    );
    if (!result.ok) throw new CliError(result.reason);
    context.stdout.write(
      `activated ${instance} of ${component} at epoch ${result.epoch} (was ${active ?? 'none'}); lost: ${
        result.lostBytes === undefined ? 'unknown' : `${result.lostBytes} bytes`
      }\n`,
    );
    for (const warning of result.warnings) context.stderr.write(`pullback: warning: ${warning}\n`);
  } finally {
    await pipeline.close();
  }
}
