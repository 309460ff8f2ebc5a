import { Gauge, type Registry } from 'prom-client';
import { longestScheduleGapSeconds } from '../config/schedule.js';
import { FALLBACK_CONDITIONS, fallbackCondition } from '../registry/fallback-condition.js';
import type { RegistryView } from './registry-view.js';
import { type Sample, viewCounter, viewGauge } from './view-gauge.js';

/**
 * The pipeline as the registry sees it, read at scrape time from `pullback status
 * --json`'s read model: snapshots, fallbacks, the WAL receiver, the election, the
 * queues. Registered by the processes with the whole view (the pull side), so that
 * each series has one source. `read` is the scrape's shared read, undefined when
 * Redis did not answer.
 */
export function registerRegistryMetrics(
  registry: Registry,
  read: () => Promise<RegistryView | undefined>,
): void {
  const gauge = (
    name: string,
    help: string,
    labels: readonly string[],
    samples: (view: RegistryView) => Iterable<Sample>,
  ) => viewGauge(registry, read, name, help, labels, samples);
  const perComponent = (
    value: (component: RegistryView['status']['components'][number]) => number | undefined,
  ) =>
    function* (view: RegistryView): Iterable<Sample> {
      for (const component of view.status.components) {
        const number = value(component);
        if (number !== undefined) yield [{ component: component.name }, number];
      }
    };
  const fallbacks = function* (view: RegistryView) {
    for (const component of view.status.components)
      for (const instance of component.instances)
        if (instance.role === 'fallback') yield { component: component.name, instance };
  };
  const seconds = (time: string | undefined) => (time === undefined ? undefined : Date.parse(time) / 1000);
  const bit = (flag: boolean | undefined) => (flag === undefined ? undefined : flag ? 1 : 0);

  new Gauge({
    name: 'pullback_registry_up',
    help: 'Whether the last scrape could read the registry (Redis): 1 or 0',
    registers: [registry],
    async collect() {
      this.set((await read()) === undefined ? 0 : 1);
    },
  });

  gauge(
    'pullback_last_snapshot_age_seconds',
    'Age of the newest snapshot of the component',
    ['component'],
    perComponent((c) => c.lastSnapshot?.ageSeconds),
  );
  gauge(
    'pullback_last_snapshot_timestamp_seconds',
    'Time of the newest snapshot of the component',
    ['component'],
    perComponent((c) => seconds(c.lastSnapshot?.time)),
  );
  gauge(
    'pullback_last_snapshot_logical_bytes',
    "Size of the newest snapshot's files",
    ['component'],
    perComponent((c) => c.lastSnapshot?.logicalBytes),
  );
  gauge(
    'pullback_last_snapshot_new_bytes',
    'Bytes the newest snapshot added to the archive',
    ['component'],
    perComponent((c) => c.lastSnapshot?.newBytesStored),
  );
  gauge(
    'pullback_export_interval_seconds',
    "The longest wait between two of the component's scheduled exports (its schedule, over its next 10 runs)",
    ['component'],
    perComponent((c) => longestScheduleGapSeconds(c.schedule)),
  );
  gauge(
    'pullback_last_export_success',
    'Whether the last export of the component succeeded: 1 or 0',
    ['component'],
    perComponent((c) => bit(c.lastExport?.ok)),
  );
  gauge(
    'pullback_last_export_corrupt_pages',
    "Pages whose checksum was wrong in the component's last export (the agent's own backup checks every page; 0 when it found none)",
    ['component'],
    perComponent((c) => (c.lastExport === undefined ? undefined : (c.lastExport.corruptPageCount ?? 0))),
  );
  gauge(
    'pullback_bad_snapshots',
    'Snapshots that failed to restore or start on a fallback (drill failed)',
    ['component'],
    perComponent((c) => Object.keys(c.badSnapshots).length),
  );

  gauge(
    'pullback_fallback_lag_bytes',
    "How far behind the active a fallback's replay is, in bytes",
    ['component', 'instance'],
    function* (view) {
      for (const { component, instance } of fallbacks(view))
        if (instance.state?.behindBytes !== undefined)
          yield [{ component, instance: instance.name }, instance.state.behindBytes];
    },
  );
  gauge(
    'pullback_fallback_lag_seconds',
    'How far behind the active a fallback is, in seconds (since the last transaction it replayed committed)',
    ['component', 'instance'],
    function* (view) {
      for (const { component, instance } of fallbacks(view))
        if (instance.behindSeconds !== undefined)
          yield [{ component, instance: instance.name }, instance.behindSeconds];
    },
  );
  gauge(
    'pullback_fallback_state',
    "A fallback's state: 1 for the one it is in (healthy, unhealthy, down, unknown), 0 for the others",
    ['component', 'instance', 'state'],
    function* (view) {
      for (const { component, instance } of fallbacks(view)) {
        const now = fallbackCondition(instance);
        for (const state of FALLBACK_CONDITIONS)
          yield [{ component, instance: instance.name, state }, state === now ? 1 : 0];
      }
    },
  );
  gauge(
    'pullback_fallback_at_last_snapshot',
    'Whether a fallback holds the newest snapshot of its component: 1 or 0',
    ['component', 'instance'],
    function* (view) {
      for (const { component, instance } of fallbacks(view))
        yield [{ component, instance: instance.name }, instance.atLastSnapshot ? 1 : 0];
    },
  );

  gauge(
    'pullback_wal_receiver_streaming',
    "Whether the component's WAL receiver streams from the active: 1 or 0",
    ['component'],
    perComponent((c) => bit(c.walReceiver?.streaming)),
  );
  gauge(
    'pullback_wal_receiver_synchronous',
    'Whether the WAL receiver is a synchronous standby of the active: 1 or 0',
    ['component'],
    perComponent((c) => bit(c.walReceiver?.synchronous)),
  );
  gauge(
    'pullback_wal_receiver_lag_bytes',
    "The active's current LSN less the end of the archive's WAL",
    ['component'],
    perComponent((c) => c.walReceiver?.behindBytes),
  );
  gauge(
    'pullback_wal_receiver_lag_seconds',
    'Seconds since the archive last caught up with the active',
    ['component'],
    perComponent((c) => c.walReceiver?.behindSeconds),
  );
  gauge(
    'pullback_wal_receiver_report_age_seconds',
    "Age of the WAL receiver's last report (it reports every few seconds while it runs)",
    ['component'],
    perComponent((c) =>
      c.walReceiver === undefined
        ? undefined
        : Math.max(0, Date.now() / 1000 - (seconds(c.walReceiver.updatedAt) ?? 0)),
    ),
  );
  gauge(
    'pullback_archive_newest_wal_timestamp_seconds',
    "When the end of the archive's WAL (partial segment included) was stored",
    ['component'],
    perComponent((c) => seconds(c.walReceiver?.archivedAt)),
  );
  gauge(
    'pullback_wal_gaps',
    'Stretches of WAL the archive lacks (nothing in them can be restored to)',
    ['component'],
    perComponent((c) =>
      c.walReceiver === undefined && c.walGaps === undefined ? undefined : (c.walGaps?.length ?? 0),
    ),
  );

  gauge(
    'pullback_epoch',
    "The component's epoch (one more at each activation)",
    ['component'],
    perComponent((c) => c.epoch),
  );
  viewCounter(
    registry,
    read,
    'pullback_activations_total',
    'Activations of a fallback (failovers, switchovers, by hand)',
    ['component'],
    function* (view) {
      for (const [component, count] of view.activationCounts) yield [{ component }, count];
    },
  );
  gauge(
    'pullback_queue_jobs',
    'Jobs in a queue by state (waiting, active, delayed, failed, completed)',
    ['queue', 'state'],
    function* (view) {
      for (const [queue, counts] of Object.entries(view.status.queues))
        for (const [state, count] of Object.entries(counts)) yield [{ queue, state }, count];
    },
  );
}
