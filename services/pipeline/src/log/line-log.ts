import { messageOf } from '../domain/errors.js';
import type { ErrorReporter } from '../queues/error-reporter.js';
import type { LogFields, Logger } from './logger.js';

/** What the workers and agents take as `log`: a line, and the fields known where it is said. */
export type LineLog = (line: string, fields?: LogFields) => void;

/** A `log` callback that writes each line through `logger` (whose child fields it carries). */
export function lineLog(logger: Logger, level: 'info' | 'warn' = 'info'): LineLog {
  return (line, fields) => logger[level](fields ?? {}, line);
}

/** An `onError` that writes `where: message` as an error line, with the error (message, stack) in `err`. */
export function errorLog(logger: Logger): ErrorReporter {
  return (error, where) => logger.error({ err: error, where }, `${where}: ${messageOf(error)}`);
}
