import { setTimeout as sleep } from 'node:timers/promises';
import type { FullStatus, JobProgress, Pipeline } from '@pullback/pipeline';
import type { RunningPipeline } from '@pullback/workers';
import { formatBytes } from '../progress-display.js';

/** One job a worker of this process ran, as seen from its events. */
export interface StageRecord {
  /** `export`, `pull` or `import.<instance>`. */
  readonly queue: string;
  readonly jobId: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly startedAt: number;
  finishedAt?: number;
  failed?: string;
  result?: unknown;
  /** The largest byte count reported per stage (`ingest`, `restore`, ...). */
  readonly bytes: Record<string, number>;
}

/**
 * Listens to the in-process workers' job events (active, progress, completed,
 * failed), so that a cycle can say how long each stage took and how many bytes it
 * moved. Progress is throttled by the workers, so restore byte counts are the last
 * reported, which may fall a little short of the final figure.
 */
export function watchStages(running: RunningPipeline): { records: StageRecord[] } {
  const records: StageRecord[] = [];
  const open = new Map<string, StageRecord>();
  for (const role of running.workers) {
    for (const worker of role.workers) {
      const key = (jobId: string | undefined) => `${worker.name}/${jobId}`;
      worker.on('active', (job) => {
        const record: StageRecord = {
          queue: worker.name,
          jobId: job.id ?? '?',
          data: job.data as Record<string, unknown>,
          startedAt: Date.now(),
          bytes: {},
        };
        open.set(key(job.id), record);
        records.push(record);
      });
      worker.on('progress', (job, progress) => {
        const record = open.get(key(job.id));
        const report = progress as unknown as JobProgress;
        if (record === undefined || typeof report !== 'object' || report === null) return;
        const name = report.detail === 'staging' ? 'staging' : report.stage;
        record.bytes[name] = Math.max(record.bytes[name] ?? 0, report.bytesDone, report.bytesTotal ?? 0);
      });
      worker.on('completed', (job, result) => {
        const record = open.get(key(job.id));
        if (record === undefined) return;
        record.finishedAt = Date.now();
        record.result = result;
        open.delete(key(job.id));
      });
      worker.on('failed', (job, error) => {
        const record = open.get(key(job?.id));
        if (record === undefined) return;
        record.finishedAt = Date.now();
        record.failed = error.message;
        open.delete(key(job?.id));
      });
    }
  }
  return { records };
}

export interface CycleResult {
  readonly snapshotId: string;
  readonly startedAt: number;
  readonly ms: number;
  /** The status at the moment both fallbacks were hot standbys at the snapshot. */
  readonly status: FullStatus;
}

/**
 * One export → pull → import cycle: asks for an export now and waits until every
 * fallback of `component` is healthy (a running, read-only hot standby) at the new
 * snapshot. A failure the registry records fails the cycle at once with its reason,
 * rather than after the timeout.
 */
export async function runCycle(
  pipeline: Pipeline,
  component: string,
  options: { previous?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<CycleResult> {
  const startedAt = Date.now();
  const before = await pipeline.readStatus();
  const seenFailures = new Set(
    before.components.find((c) => c.name === component)?.failures.map((f) => `${f.at} ${f.message}`),
  );
  await pipeline.exportNow(component);
  const deadline = startedAt + (options.timeoutMs ?? 300_000);
  for (;;) {
    options.signal?.throwIfAborted();
    const status = await pipeline.readStatus();
    const current = status.components.find((c) => c.name === component);
    const final = current?.failures.find((f) => f.final && !seenFailures.has(`${f.at} ${f.message}`));
    if (final !== undefined) {
      throw new Error(
        `${final.stage}${final.instance === undefined ? '' : ` of ${final.instance}`} failed: ${final.message}`,
      );
    }
    const last = current?.lastSnapshot?.id;
    const fallbacks = current?.instances.filter((instance) => instance.role === 'fallback') ?? [];
    if (
      last !== undefined &&
      last !== options.previous &&
      fallbacks.length > 0 &&
      fallbacks.every((instance) => instance.atLastSnapshot && instance.state?.healthy)
    ) {
      return { snapshotId: last, startedAt, ms: Date.now() - startedAt, status };
    }
    if (Date.now() > deadline) {
      const where = fallbacks
        .map((f) => `${f.name} ${f.state?.healthy ? 'healthy' : (f.state?.reason ?? 'no report')}`)
        .join(', ');
      throw new Error(
        `the cycle did not finish within ${Math.round((options.timeoutMs ?? 300_000) / 1000)} s (last snapshot ${last?.slice(0, 12) ?? 'none'}; ${where})`,
      );
    }
    await sleep(100);
  }
}

/** The jobs of the cycle that made `snapshotId`: its export, its pull, and one import per fallback. */
export function stagesOfCycle(
  records: readonly StageRecord[],
  cycle: CycleResult,
): { export?: StageRecord; pull?: StageRecord; imports: StageRecord[] } {
  const within = records.filter(
    (record) => record.startedAt >= cycle.startedAt && record.failed === undefined,
  );
  const pull = within.find(
    (record) =>
      record.queue === 'pull' &&
      (record.result as { snapshotId?: string } | undefined)?.snapshotId === cycle.snapshotId,
  );
  const exportJob = within.find((record) => record.queue === 'export');
  const imports = within.filter(
    (record) => record.queue.startsWith('import.') && record.data.snapshotId === cycle.snapshotId,
  );
  return {
    ...(exportJob === undefined ? {} : { export: exportJob }),
    ...(pull === undefined ? (fallbackPull(within) ?? {}) : { pull }),
    imports,
  };
}

function fallbackPull(within: readonly StageRecord[]): { pull: StageRecord } | undefined {
  const pull = within.find((record) => record.queue === 'pull');
  return pull === undefined ? undefined : { pull };
}

/** One line: each stage's time and bytes, e.g. for the demo. */
export function describeStages(stages: ReturnType<typeof stagesOfCycle>, cycle: CycleResult): string {
  const parts: string[] = [];
  const exported = stages.export;
  if (exported !== undefined) {
    const bytes = (exported.result as { bytes?: number } | undefined)?.bytes ?? exported.bytes.export;
    parts.push(`export ${span(exported)}${bytes === undefined ? '' : ` (${formatBytes(bytes)})`}`);
  }
  const pull = stages.pull;
  if (pull !== undefined) {
    const snapshot = cycle.status.components.find(
      (c) => c.lastSnapshot?.id === cycle.snapshotId,
    )?.lastSnapshot;
    parts.push(
      `pull ${span(pull)}${snapshot === undefined ? '' : ` (${formatBytes(snapshot.logicalBytes)}, ${formatBytes(snapshot.newBytesStored)} new in the archive)`}`,
    );
  }
  for (const job of stages.imports) {
    const restored = job.bytes.restore;
    parts.push(
      `import ${job.queue.slice('import.'.length)} ${span(job)}${
        restored === undefined
          ? ''
          : ` (${formatBytes(restored)} ${(job.result as { delta?: boolean } | undefined)?.delta ? 'delta-restored' : 'restored'})`
      }`,
    );
  }
  return `${parts.join(', ')}; ${(cycle.ms / 1000).toFixed(1)} s in all`;
}

function span(record: StageRecord): string {
  return `${(((record.finishedAt ?? Date.now()) - record.startedAt) / 1000).toFixed(1)} s`;
}
