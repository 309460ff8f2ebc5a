import type { CommandContext } from '../context.js';
import type { TakeoverIo } from './takeover-io.js';

/** A takeover action's lines on the command's stdout, its warnings on stderr. */
export function cliTakeoverIo(context: CommandContext): TakeoverIo {
  return {
    say: (line) => context.stdout.write(`${line}\n`),
    warn: (line) => context.stderr.write(`pullback: warning: ${line}\n`),
    signal: context.signal,
  };
}
