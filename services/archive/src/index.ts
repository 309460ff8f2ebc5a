export { type BackupTreeOptions, backupTree, type LateEntries } from './backup/backup-tree.js';
export type { PageChecksums } from './backup/page-checksums.js';
export { isRelationPath } from './chunking/file-kind.js';
export { type ChunkerParams, DEFAULT_CHUNKER } from './chunking/gear-cdc.js';
export {
  PAGE_SIZE,
  PAGES_PER_SEGMENT,
  type PageHeader,
  pageChecksum,
  pageHeader,
  pageIsSound,
} from './chunking/page-checksum.js';
export { checksumsOfPages } from './chunking/page-checksum-batch.js';
export { createKeyFile } from './crypto/keys.js';
export {
  ArchiveError,
  type ArchiveErrorCode,
  CorruptDataError,
  isArchiveError,
} from './errors.js';
export { canOverlayPages, type PageOverlay } from './fs/page-overlay.js';
export { specialKind } from './fs/special-kind.js';
export { type ListedFields, listedStats, type SourceEntry, type SourceStats } from './fs/walk-source.js';
export * from './lock/index.js';
export type { Progress, ProgressListener } from './progress.js';
export { listProofs, recordProof, type SnapshotProof } from './proof/snapshot-proof.js';
export { type ForgetOptions, type ForgetResult, forgetSnapshots } from './prune/forget-snapshots.js';
export { type PruneOptions, type PruneResult, pruneArchive } from './prune/prune-archive.js';
export type { QuarantinedObject } from './repair/quarantine.js';
export {
  type RepairArchiveOptions,
  type RepairArchiveResult,
  repairArchive,
} from './repair/repair-archive.js';
export { type RepairIndexOptions, type RepairIndexResult, repairIndex } from './repair/repair-index.js';
export { Archive } from './repository/archive.js';
export type { ArchiveConfig } from './repository/config.js';
export {
  type InitArchiveOptions,
  type InitArchiveResult,
  initArchive,
  type OpenArchiveOptions,
  openArchive,
} from './repository/open-archive.js';
export { type DamagedFile, DamagedRestoreError } from './restore/damaged-files.js';
export type { Relocations } from './restore/relocations.js';
export { type RestoreOptions, type RestoreResult, restoreSnapshot } from './restore/restore-snapshot.js';
export * from './retention/index.js';
export { decodeFileName, encodeFileName, fsPath, hasEscapedBytes, nativePath } from './snapshot/file-name.js';
export { findSnapshot } from './snapshot/find-snapshot.js';
export { listSnapshots, type SnapshotScope } from './snapshot/list-snapshots.js';
export type {
  Snapshot,
  SnapshotManifest,
  SnapshotStats,
} from './snapshot/manifest.js';
export { NAME_MAX, PATH_MAX, unrestorableName } from './snapshot/name-limits.js';
export { SnapshotFiles } from './snapshot/snapshot-files.js';
export { comparePaths, type FileContent, type TreeEntry } from './snapshot/tree-entry.js';
export {
  type VerifyOptions,
  type VerifyProblem,
  type VerifyResult,
  verifyArchive,
} from './verify/verify-archive.js';
export { describeGap as describeWalGap } from './verify/verify-wal.js';
export {
  archiveWalFile,
  archiveWalFileAt,
  type FetchWalOptions,
  fetchWalFile,
  type ReadWalHeaderOptions,
  readWalHeader,
  type StoreWalOptions,
  type WalFileTimes,
  type WalOperationOptions,
} from './wal/archive-wal.js';
export { listWal, listWalStreams, type WalObjectInfo } from './wal/list-wal.js';
export { removeWalBefore } from './wal/remove-wal.js';
export { parseTimelineHistory, type TimelineSwitch } from './wal/timeline-history.js';
export {
  type WalChain,
  type WalGap,
  type WalPosition,
  type WalRun,
  type WalTimelineChain,
  walChain,
} from './wal/wal-chain.js';
export {
  checkSegmentSize,
  checkWalStream,
  compareLsn,
  DEFAULT_SEGMENT_SIZE,
  formatLsn,
  historyFileName,
  isLsn,
  isWalHistoryName,
  isWalSegmentName,
  isWalStream,
  lsnOfSegment,
  nextSegment,
  type ParsedWalName,
  parseLsn,
  parseWalName,
  parseWalStream,
  segmentName,
  segmentNumber,
  segmentOfLsn,
  segmentStart,
  timelineOfWalName,
  type WalFileName,
  walName,
  walStreamName,
} from './wal/wal-names.js';
export { type WalHeader, WalObjectEncoder } from './wal/wal-object.js';
export { walObjectName } from './wal/wal-paths.js';
export { WalReadBuffers } from './wal/wal-read-buffers.js';
