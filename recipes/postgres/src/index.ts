export { type WalRange, walRangesOf } from './backup-manifest.js';
export { conninfo, describeEndpoint, type PgEndpoint } from './connection.js';
export { CLEANLY_SHUT_DOWN, type ControlData, controlData } from './control-data.js';
export { decodeDatabaseName, encodeDatabaseName } from './database-names.js';
export { clearDemotion, type DemoteOptions, demoteServer, refuseWrites } from './demote.js';
export { DATABASES_DIR, type DumpedDatabase, exportLogical, GLOBALS_MEMBER } from './export-logical.js';
export { BASE_OBJECT, exportPhysical } from './export-physical.js';
export { followAsStandby } from './follow-as-standby.js';
export { compareLsn, lsnToBigInt } from './lsn.js';
export { type OsAccount, serverAccount } from './os-user.js';
export { DEFAULT_PART_SIZE, joinParts, tarOfParts } from './parts-tar.js';
export { closePools } from './pools.js';
export { type PostgresImportOptions, postgresRecipe } from './postgres-recipe.js';
export { type PostmasterStatus, postmasterStatus } from './postmaster.js';
export { type ProbeResult, probeServer } from './probe-server.js';
export { type QueryOptions, query, queryJson, STATEMENT_TIMEOUT_MS } from './query.js';
export { PgQueryError } from './query-error.js';
export { type LocalInstance, replayPosition } from './replay-position.js';
export { restoreLogical } from './restore-logical.js';
export { type RewindOptions, RewindSourceUnavailableError, rewindServer } from './rewind.js';
export { type PostgresRecipeOptions, RECIPE_NAME } from './run-export.js';
export { createScratchServer, type ScratchServer, type ScratchServerOptions } from './scratch-server.js';
export {
  ensureDataDir,
  type LocalServer,
  promoteServer,
  type StartOptions,
  startServer,
  stopServer,
} from './server-control.js';
export { type ServerFacts, serverFacts } from './server-facts.js';
export { bytesBehind, serverPosition } from './server-position.js';
export { checkStandby, DEFAULT_SOCKET_DIR, type StandbyOptions, startStandby } from './standby.js';
export { TarCheck, type TarCheckOptions } from './tar-check.js';
export { pgBinDir, pgTool } from './tools.js';
export { ensureWalSlot, type WalSlotState } from './wal-slot.js';
export { spoolDirOf, spoolRestoreCommand, systemIdentifierOf, walSpoolOf } from './wal-spool.js';
export { walReceiverName, walSourceStatus } from './wal-status.js';
export { streamWal } from './wal-stream.js';
