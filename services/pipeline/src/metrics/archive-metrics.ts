import type { Registry } from 'prom-client';
import type { ArchiveHistory } from './archive-history.js';
import { type Sample, viewGauge } from './view-gauge.js';

/** The archive's size and dedup, and each component's last proven snapshot (archive-history.ts). */
export function registerArchiveMetrics(
  registry: Registry,
  read: () => Promise<ArchiveHistory | undefined>,
): void {
  const gauge = (
    name: string,
    help: string,
    labels: readonly string[],
    samples: (history: ArchiveHistory) => Iterable<Sample>,
  ) => viewGauge(registry, read, name, help, labels, samples);
  gauge('pullback_archive_logical_bytes', "Sum of the sizes of the kept snapshots' files", [], (h) => [
    [{}, h.logicalBytes],
  ]);
  gauge(
    'pullback_archive_stored_bytes',
    'Bytes the kept snapshots added to the archive when they were made (packs, index, manifests)',
    [],
    (h) => [[{}, h.storedBytes]],
  );
  gauge(
    'pullback_archive_dedup_ratio',
    'Logical bytes per stored byte (deduplication and compression together)',
    [],
    (h) => (h.storedBytes > 0 ? [[{}, h.logicalBytes / h.storedBytes]] : []),
  );
  gauge(
    'pullback_archive_listed_timestamp_seconds',
    'When the archive was last listed for these metrics (at most once a minute, or at a new snapshot or proof)',
    [],
    (h) => [[{}, h.listedAt / 1000]],
  );
  gauge(
    'pullback_archive_snapshots',
    'Snapshots of the component the archive keeps',
    ['component'],
    function* (h) {
      for (const [component, history] of h.components) yield [{ component }, history.snapshots];
    },
  );
  gauge(
    'pullback_last_proven_snapshot_age_seconds',
    'Age of the newest snapshot whose restore drill succeeded',
    ['component'],
    function* (h) {
      for (const [component, history] of h.components)
        if (history.lastProven !== undefined)
          yield [{ component }, Math.max(0, (Date.now() - Date.parse(history.lastProven.time)) / 1000)];
    },
  );
  gauge(
    'pullback_last_proven_snapshot_timestamp_seconds',
    'Time of the newest snapshot whose restore drill succeeded',
    ['component'],
    function* (h) {
      for (const [component, history] of h.components)
        if (history.lastProven !== undefined)
          yield [{ component }, Date.parse(history.lastProven.time) / 1000];
    },
  );
  gauge(
    'pullback_last_proven_snapshot_logical_bytes',
    "Size of the newest proven snapshot's files",
    ['component'],
    function* (h) {
      for (const [component, history] of h.components)
        if (history.lastProven !== undefined) yield [{ component }, history.lastProven.logicalBytes];
    },
  );
}
