import { errorLog, type Logger, lineLog } from '@pullback/pipeline/log';
import { type RetryEvent, retryLine } from '@pullback/storage';
import type { CommandContext } from './context.js';
import type { ProcessLogger } from './process-logger.js';

/** Where the workers' lines, errors and storage retries go: the process's logger. */
export function logPlumbing(logger: Logger) {
  return {
    logger,
    onError: errorLog(logger),
    onNotice: lineLog(logger),
    onStorageRetry: (event: RetryEvent, location: string) =>
      logger.warn({ location }, retryLine(event, location)),
  };
}

/**
 * What `up` says of itself (what runs here, stopped): plain lines for a person, or
 * info lines among the JSON ones, with the same text, for a program.
 */
export function announcer(
  { logger, format, redact }: ProcessLogger,
  context: CommandContext,
): (line: string) => void {
  return format === 'json'
    ? (line) => logger.info(line)
    : (line) => context.stdout.write(`${redact(line)}\n`);
}
