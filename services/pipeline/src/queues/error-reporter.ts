import { messageOf } from '../domain/errors.js';

/**
 * Where errors that belong to no job go: a worker's or queue's connection trouble
 * (BullMQ emits them as `error` events, and an emitter without a listener would
 * crash the process). `where` names the emitter: `export worker`, `queue pull`.
 */
export type ErrorReporter = (error: Error, where: string) => void;

/** The default: one line on stderr. */
export const reportToStderr: ErrorReporter = (error, where) => {
  process.stderr.write(`pullback: ${where}: ${messageOf(error)}\n`);
};
