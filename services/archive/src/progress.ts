/** What long operations report, through `onProgress`, as they go. */
export interface Progress {
  readonly bytesDone: number;
  /** Known once the size of the work is known (a backup walks the source first). */
  readonly bytesTotal?: number;
  readonly filesDone: number;
  readonly filesTotal?: number;
}

export type ProgressListener = (progress: Progress) => void;

/** Calls the listener at most every `intervalMs`, and always on `finish`. */
export class ProgressReporter {
  private bytesDone = 0;
  private filesDone = 0;
  private last = 0;
  bytesTotal: number | undefined;
  filesTotal: number | undefined;

  constructor(
    private readonly listener: ProgressListener | undefined,
    private readonly intervalMs = 100,
  ) {}

  add(bytes: number, files = 0): void {
    this.bytesDone += bytes;
    this.filesDone += files;
    if (!this.listener) return;
    const now = Date.now();
    if (now - this.last >= this.intervalMs) {
      this.last = now;
      this.emit();
    }
  }

  finish(): void {
    if (this.listener) this.emit();
  }

  private emit(): void {
    this.listener?.({
      bytesDone: this.bytesDone,
      filesDone: this.filesDone,
      ...(this.bytesTotal === undefined ? {} : { bytesTotal: this.bytesTotal }),
      ...(this.filesTotal === undefined ? {} : { filesTotal: this.filesTotal }),
    });
  }
}
