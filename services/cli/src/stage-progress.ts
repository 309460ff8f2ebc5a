import type { StepProgress } from '@pullback/pipeline';
import type { CommandContext } from './context.js';
import { type ProgressDisplay, progressDisplay } from './progress-display.js';

/**
 * A progress bar per pipeline stage (export, ingest, ...): a step's `onProgress`
 * goes through several stages, each with its own total, so each gets a fresh bar.
 */
export function stageProgress(context: CommandContext): {
  update: (progress: StepProgress) => void;
  /** One line on stderr, above the bar. */
  say: (line: string) => void;
  stop: () => void;
} {
  let stage: string | undefined;
  let display: ProgressDisplay | undefined;
  return {
    update: (progress) => {
      if (progress.stage !== stage) {
        display?.stop();
        stage = progress.stage;
        display = progressDisplay(context, progress.stage);
      }
      display?.update({
        bytesDone: progress.bytesDone,
        filesDone: progress.filesDone ?? 0,
        ...(progress.bytesTotal === undefined ? {} : { bytesTotal: progress.bytesTotal }),
      });
    },
    say: (line) => {
      if (display) display.say(line);
      else context.stderr.write(`${line}\n`);
    },
    stop: () => display?.stop(),
  };
}
