import { setTimeout as sleep } from 'node:timers/promises';
import { clock } from './status-view.js';

export interface WatchOptions {
  /** What one frame shows (the status as text); a rejection is shown as one line and the watch goes on. */
  readonly frame: () => Promise<string>;
  readonly intervalSeconds: number;
  readonly stdout: NodeJS.WritableStream;
  /** Ends the watch (SIGINT/SIGTERM). */
  readonly signal: AbortSignal;
  /** A frame not read by then says so rather than leave the screen as it was. Default: 10 000 ms. */
  readonly frameWithinMs?: number;
}

// Cursor home, then erase the screen: the next frame is drawn over the last, as watch(1) does.
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/**
 * `pullback status --watch`: draws a frame every `intervalSeconds` until the signal
 * aborts. On a terminal each frame replaces the last; otherwise (a pipe, a log) the
 * frames follow one another, a blank line between, each under its header line.
 */
export async function watchStatus(options: WatchOptions): Promise<void> {
  const { stdout, signal, intervalSeconds } = options;
  const terminal = (stdout as { isTTY?: boolean }).isTTY === true;
  const withinMs = options.frameWithinMs ?? 10_000;
  for (let first = true; !signal.aborted; first = false) {
    const text = await frameOrError(options.frame(), withinMs);
    if (signal.aborted) break;
    const header = `Every ${intervalSeconds} s: pullback status  ${clock(new Date().toISOString())}  (Ctrl-C to stop)\n\n`;
    stdout.write(`${terminal ? CLEAR_SCREEN : first ? '' : '\n'}${header}${text}`);
    await sleep(intervalSeconds * 1000, undefined, { signal }).catch(() => {});
  }
}

async function frameOrError(frame: Promise<string>, withinMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${withinMs / 1000} s`)), withinMs);
  });
  try {
    return await Promise.race([frame, late]);
  } catch (error) {
    return `cannot read the status: ${error instanceof Error ? error.message : String(error)}\n`;
  } finally {
    clearTimeout(timer);
  }
}
