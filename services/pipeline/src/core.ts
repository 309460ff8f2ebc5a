/**
 * The pipeline without its queues, metrics and logger (bullmq, ioredis, prom-client,
 * pino): what recipes and the one-shot commands (`pullback backup`) need. A command
 * loads its modules on every run, and these took a third of `backup`'s start.
 * The package's index exports all of this and the rest.
 */
export {
  ARTIFACT_FORMAT,
  type ArtifactKind,
  type ArtifactManifest,
  type ArtifactObject,
  COMPLETE_OBJECT,
  checkExportId,
  completeName,
  type ServerPosition,
} from './artifact/format.js';
export {
  decodePageDeltaHead,
  encodePageDeltaHeader,
  INCREMENTAL_DESCRIPTION,
  INCREMENTAL_DIR,
  type IncrementalDescription,
  PAGE_DELTA_DIR,
  PAGE_DELTA_HEAD,
  type PageDeltaHeader,
  pageDeltaSize,
} from './artifact/incremental.js';
export type { Outbox } from './artifact/outbox.js';
export { readArtifactManifest } from './artifact/reader.js';
export { removeArtifact } from './artifact/remove.js';
export {
  cString,
  decodeTarHeader,
  isMetaHeader,
  paddedSize,
  parsePax,
  TAR_BLOCK,
  TarFormatError,
  type TarHeader,
} from './artifact/tar-header.js';
export { META_MAX, TarMeta } from './artifact/tar-meta.js';
export { ArtifactWriter, type SourceCheck } from './artifact/writer.js';
export * from './config/index.js';
export { type ApplySnapshotInput, type ApplySnapshotResult, applySnapshot } from './domain/apply-snapshot.js';
export { archiveWalFetch } from './domain/archive-wal-fetch.js';
export {
  type BackupComponentInput,
  type BackupComponentResult,
  backupComponent,
} from './domain/backup-component.js';
export { type CatchUpFallbackInput, catchUpFallback } from './domain/catch-up-fallback.js';
export { type CheckedWalGaps, checkWalGaps } from './domain/check-wal-gaps.js';
export { type ClientEndpoint, readWriteConnectionString } from './domain/client-connection.js';
export { type CorruptPage, corruptPagesOf } from './domain/corrupt-pages.js';
export { type DrillResult, type DrillSnapshotInput, drillSnapshot } from './domain/drill-snapshot.js';
export { isPipelineError, messageOf, PipelineError, type PipelineErrorCode } from './domain/errors.js';
export { exportIdFor } from './domain/export-id.js';
export { checkExportKind } from './domain/export-kind.js';
export { type FallbackVerdict, type FallbackVerdictInput, judgeFallback } from './domain/fallback-verdict.js';
export { type ForgottenWal, forgetWal } from './domain/forget-wal.js';
export { holdLock } from './domain/hold-lock.js';
export { type IngestArtifactInput, ingestArtifact } from './domain/ingest-artifact.js';
export { instanceLocation } from './domain/instance-location.js';
export {
  type FetchedWalFile,
  placedName,
  startWalPrefetch,
  TAKEN_FILE,
  type WalFetch,
  type WalPrefetch,
  type WalPrefetchOptions,
} from './domain/prefetch-wal.js';
export { isProcessAlive } from './domain/process-alive.js';
export type { PipelineStage, StepProgress, StepProgressListener } from './domain/progress.js';
export {
  type ForgetSnapshots,
  type PullArtifactInput,
  type PullArtifactResult,
  pullArtifact,
} from './domain/pull-artifact.js';
export { pullComponent } from './domain/pull-component.js';
export { type InPlaceEntryFields, inPlaceEntry, PullInPlace } from './domain/pull-in-place.js';
export { type ReportPositionInput, reportFallbackPosition } from './domain/report-position.js';
export { type RunExportInput, type RunExportResult, runExport } from './domain/run-export.js';
export {
  describeArtifact,
  describeSnapshot,
  FILES_KIND,
  retentionKindOf,
  type SnapshotDescription,
  snapshotTablespaces,
  snapshotTags,
} from './domain/snapshot-description.js';
export * from './recipe.js';
export {
  FALLBACK_CONDITIONS,
  type FallbackCondition,
  fallbackCondition,
} from './registry/fallback-condition.js';
export {
  type ActiveLease,
  type ActiveLeaseOutcome,
  activeLeaseValue,
  type LeaseHolder,
  type SetActiveOutcome,
} from './registry/leases.js';
export {
  type AgentStatus,
  type ComponentStatus,
  DEFAULT_AGENT_SILENT_MS,
  type InstanceStatus,
  type PipelineStatus,
  type ReadStatusOptions,
  readStatus,
  type SnapshotStatus,
} from './registry/read-status.js';
export type * from './registry/records.js';
export { Registry, type RegistryLock, type RegistryOptions } from './registry/registry.js';
export { DEFAULT_PREFIX, type RegistryKeys, registryKeys } from './registry/registry-keys.js';
export {
  linkTablespaces,
  placeTablespaces,
  type TablespacePlacement,
} from './tablespaces/place-tablespaces.js';
export {
  type RestoreWithTablespacesOptions,
  restoreWithTablespaces,
} from './tablespaces/restore-with-tablespaces.js';
export {
  isTablespaceLocations,
  parseTablespaceMap,
  type TablespaceLocations,
  type TablespaceMap,
  tablespaceMapOf,
  tablespaceRoot,
  tablespacesUnder,
} from './tablespaces/tablespace-locations.js';
export { walArchiveOf } from './wal/archive-wal-store.js';
export type { WalArchive } from './wal/wal-archive.js';
export { type RunningWalReceiver, startWalReceiver, type WalReceiverOptions } from './wal/wal-receiver.js';
export {
  moveWalReceiver,
  startWalReceivers,
  type WalReceivers,
  type WalReceiversOptions,
} from './wal/wal-receivers.js';
