import { readFile } from 'node:fs/promises';
import { type Config, resolveArchiveKey } from '@pullback/pipeline';
import {
  chooseLogFormat,
  createLogger,
  keyFileSecrets,
  type LogFormat,
  type Logger,
  textRedactor,
} from '@pullback/pipeline/log';
import type { CommandContext } from './context.js';
import { CliError } from './errors.js';
import { processSecrets } from './process-secrets.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export interface ProcessLogger {
  readonly logger: Logger;
  readonly format: LogFormat;
  /** What the logger does to each line's text, for what the command writes itself. */
  readonly redact: (text: string) => string;
}

/**
 * The logger of a long-running command (`up`, `demo`): the format asked for, else human
 * on a terminal and JSON otherwise; the level from PULLBACK_LOG_LEVEL (default info);
 * every line redacted of the config's and the environment's secrets and of the words
 * of the archive's key file, read here for that alone, and of `secrets` (the dashboard's
 * token read from its file, which the config does not hold).
 */
export async function openProcessLogger(
  options: {
    readonly logFormat?: LogFormat;
    readonly keyFile?: string;
    readonly config?: Config;
    readonly secrets?: readonly string[];
  },
  context: CommandContext,
): Promise<ProcessLogger> {
  const level = context.env.PULLBACK_LOG_LEVEL || 'info';
  if (!LEVELS.includes(level)) {
    throw new CliError(
      `PULLBACK_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(level)}`,
    );
  }
  const format = chooseLogFormat(options.logFormat, (context.stdout as { isTTY?: boolean }).isTTY === true);
  const key = resolveArchiveKey({
    keyFile: options.keyFile,
    env: context.env,
    configKeyFile: options.config?.archive.keyFile,
  });
  const keyText =
    key !== undefined && 'keyFile' in key ? await readFile(key.keyFile, 'utf8').catch(() => '') : '';
  const secrets = processSecrets(context.env, [...keyFileSecrets(keyText), ...(options.secrets ?? [])]);
  const logger = createLogger({ format, level, secrets, stdout: context.stdout, stderr: context.stderr });
  return { logger, format, redact: textRedactor(secrets) };
}
