import { messageOf } from '../domain/errors.js';
import { textRedactor } from '../log/secret-redactor.js';

/**
 * Where errors that belong to no job go: a worker's or queue's connection trouble
 * (BullMQ emits them as `error` events, and an emitter without a listener would
 * crash the process). `where` names the emitter: `export worker`, `queue pull`.
 */
export type ErrorReporter = (error: Error, where: string) => void;

// Without the config's secrets at hand, at least no URL's password is printed.
const redact = textRedactor([]);

/** The default: one line on stderr (a process with a logger gives `errorLog` instead). */
export const reportToStderr: ErrorReporter = (error, where) => {
  process.stderr.write(`pullback: ${redact(`${where}: ${messageOf(error)}`)}\n`);
};
