import { humanLine } from './human-line.js';
import type { LogFormat } from './log-format.js';
import { redactSecrets } from './secret-redactor.js';

export interface LogDestinationOptions {
  readonly format: LogFormat;
  /** Values replaced by `***` wherever they appear (knownSecrets); URLs' passwords always are. */
  readonly secrets: readonly string[];
  /** Where info and debug lines go. */
  readonly stdout: NodeJS.WritableStream;
  /** Where warnings and errors go, as the command line's errors always did. */
  readonly stderr: NodeJS.WritableStream;
}

const TO_STDERR = new Set(['warn', 'error', 'fatal']);

/**
 * The one place a log line is written: pino's JSON for a record is parsed, every
 * string in it (message, fields, the error's message and stack) redacted, then
 * written as JSON or as a human line. Redacting the object rather than the text
 * finds a secret however JSON would have escaped it. Logs are a few lines a second,
 * never the data path: parsing each costs nothing that matters.
 */
export function logDestination(options: LogDestinationOptions): { write(line: string): void } {
  return {
    write(line: string) {
      const record = redactSecrets(JSON.parse(line) as Record<string, unknown>, options.secrets);
      const text = options.format === 'json' ? JSON.stringify(record) : humanLine(record);
      const stream = TO_STDERR.has(String(record.level)) ? options.stderr : options.stdout;
      stream.write(`${text}\n`);
    },
  };
}
