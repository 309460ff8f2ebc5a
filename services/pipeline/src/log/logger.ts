import { hostname } from 'node:os';
import { type Logger, type LoggerOptions, pino } from 'pino';
import { logDestination } from './log-destination.js';
import type { LogFormat } from './log-format.js';

export type { Logger } from 'pino';

/** The fields a child logger carries on each of its lines (docs/observability.md "Structured logs"). */
export interface LogFields {
  readonly component?: string;
  readonly instance?: string;
  readonly jobId?: string;
  readonly epoch?: number;
  readonly [key: string]: unknown;
}

export interface CreateLoggerOptions {
  readonly format: LogFormat;
  /** The least level written. Default: `info`. */
  readonly level?: string;
  /** Fields of every line of this process, besides `pid` and `hostname`. */
  readonly base?: LogFields;
  /** Values never written (knownSecrets). */
  readonly secrets: readonly string[];
  /** Default: the process's. */
  readonly stdout?: NodeJS.WritableStream;
  /** Default: the process's. */
  readonly stderr?: NodeJS.WritableStream;
  /** Fields computed at each line (the epoch an agent holds now). */
  readonly mixin?: LoggerOptions['mixin'];
}

/**
 * The logger of a long-running process: pino, with level names and ISO times, written
 * through the redacting destination (log-destination.ts) as human or JSON lines.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid, hostname: hostname(), ...options.base },
      ...(options.mixin === undefined ? {} : { mixin: options.mixin }),
    },
    logDestination({
      format: options.format,
      secrets: options.secrets,
      stdout: options.stdout ?? process.stdout,
      stderr: options.stderr ?? process.stderr,
    }),
  );
}
