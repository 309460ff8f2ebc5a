/** The stages of the pipeline that report progress. */
export type PipelineStage = 'export' | 'ingest' | 'restore' | 'start';

/**
 * What a long step reports through `onProgress`: the worker passes it on as BullMQ
 * job progress, the command line draws it. `bytesTotal` is known, or estimated,
 * once the size of the work is.
 */
export interface StepProgress {
  readonly stage: PipelineStage;
  readonly bytesDone: number;
  readonly bytesTotal?: number;
  readonly filesDone?: number;
  /** What is being worked on: an object name, a snapshot id. */
  readonly detail?: string;
}

export type StepProgressListener = (progress: StepProgress) => void;

/** A step's own progress (a recipe's export, the archive's backup or restore) as `stage` reports it. */
export function stepProgress(
  stage: PipelineStage,
  progress: { readonly bytesDone: number; readonly bytesTotal?: number; readonly filesDone?: number },
  detail: string,
): StepProgress {
  return {
    stage,
    bytesDone: progress.bytesDone,
    ...(progress.bytesTotal === undefined ? {} : { bytesTotal: progress.bytesTotal }),
    ...(progress.filesDone === undefined ? {} : { filesDone: progress.filesDone }),
    detail,
  };
}
