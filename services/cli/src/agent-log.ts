import type { Config } from '@pullback/pipeline';
import type { LineLog, Logger } from '@pullback/pipeline/log';
import { EpochRecordStore, epochRecordPath } from '@pullback/worker-agent';

/**
 * The `log` of an agent (`up --instance NAME`): each line carries the instance, its
 * component, and the epoch its record holds as the line is written. The record is
 * read for each line, in order (an agent says a few lines a minute); a line waits for
 * the read, never for another line's.
 */
export function agentLog(logger: Logger, config: Config, instance: string): LineLog {
  const component = Object.entries(config.components).find(([, c]) =>
    c.instances.some((i) => i.name === instance),
  )?.[0];
  const child = logger.child({ ...(component === undefined ? {} : { component }), instance });
  const record = new EpochRecordStore(epochRecordPath(config.stateDir, instance));
  let written = Promise.resolve();
  return (line, fields) => {
    written = written.then(async () => {
      const epoch = (await record.read().catch(() => undefined))?.epoch;
      child.info({ ...(epoch === undefined ? {} : { epoch }), ...fields }, line);
    });
  };
}
