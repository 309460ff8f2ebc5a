import type { ComponentConfig, Config } from '../config/schema.js';
import type { PullJob } from '../queues/job-contracts.js';
import { PipelineError } from './errors.js';

/**
 * The config of the component a pull job names, once the job may be trusted with it:
 * the component is in the config, and the outbox the job names is the component's
 * own, so that a job made by anything else cannot slip a foreign artifact into the
 * component's history. A job whose outbox differs (the config's outbox changed since
 * the export, or the job was not queued by an export) fails with `outbox-mismatch`.
 */
export function pullComponent(config: Config, job: PullJob): ComponentConfig {
  const what = `pull of ${job.exportId} of ${job.component}`;
  const component = config.components[job.component];
  if (component === undefined) {
    throw new PipelineError('unknown-component', `${what}: ${job.component} is not in the config`);
  }
  if (job.outbox !== component.outbox) {
    throw new PipelineError(
      'outbox-mismatch',
      `${what}: outbox ${job.outbox} is not the component's (${component.outbox}); the job was queued for another outbox`,
      { hint: "if the config's outbox changed since the export, run a new export" },
    );
  }
  return component;
}
