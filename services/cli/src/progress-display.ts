import type { Progress } from '@pullback/archive';
import { Presets, SingleBar } from 'cli-progress';
import type { CommandContext } from './context.js';

/**
 * A progress bar (bytes, rate, ETA) on stderr when it is a terminal; nothing otherwise,
 * so logs and pipes stay clean. `update` is the archive's `onProgress`.
 */
export interface ProgressDisplay {
  readonly update: (progress: Progress) => void;
  /** Writes one line to stderr, above the bar (which is redrawn below it). */
  readonly say: (line: string) => void;
  stop(): void;
}

export function progressDisplay(context: CommandContext, label: string): ProgressDisplay {
  const stream = context.stderr as NodeJS.WriteStream;
  const plain = (line: string) => void stream.write(`${line}\n`);
  if (!stream.isTTY || context.env.CI === 'true') return { update: () => {}, say: plain, stop: () => {} };

  const started = Date.now();
  const bar = new SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% | {done} of {total} | {rate} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      fps: 5,
    },
    Presets.shades_classic,
  );
  let started_ = false;
  return {
    update: (progress) => {
      const total = progress.bytesTotal ?? Math.max(progress.bytesDone, 1);
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      const payload = {
        done: formatBytes(progress.bytesDone),
        total: progress.bytesTotal === undefined ? '?' : formatBytes(progress.bytesTotal),
        rate: `${formatBytes(progress.bytesDone / seconds)}/s`,
      };
      if (!started_) {
        bar.start(total, progress.bytesDone, payload);
        started_ = true;
      } else {
        bar.setTotal(total);
        bar.update(progress.bytesDone, payload);
      }
    },
    say: (line) => {
      // Clears the bar's line first; its next redraw comes below.
      plain(started_ ? `\r\x1b[2K${line}` : line);
    },
    stop: () => {
      if (started_) bar.stop();
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
