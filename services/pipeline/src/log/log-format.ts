/** How log lines are written: `human` for a person at a terminal, `json` (one object a line) for a collector. */
export type LogFormat = 'human' | 'json';

export const LOG_FORMATS: readonly LogFormat[] = ['human', 'json'];

/**
 * The format asked for (`--log-format`), else human lines on a terminal and JSON lines
 * anywhere else (a pipe, a file, a service manager's journal), where a program reads them.
 */
export function chooseLogFormat(asked: LogFormat | undefined, stdoutIsTerminal: boolean): LogFormat {
  return asked ?? (stdoutIsTerminal ? 'human' : 'json');
}
