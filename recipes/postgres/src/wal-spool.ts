import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { WalSpool } from '@pullback/pipeline';

/** The spool a fallback's restore_command takes archived WAL from, inside pg_wal (same file system, so a move is a rename). */
export function spoolDirOf(dataDir: string): string {
  return join(dataDir, 'pg_wal', 'pullback-spool');
}

/**
 * pg_control's system identifier: the first field of ControlFileData (a uint64 in
 * the machine's byte order), read without a running server. Undefined when the data
 * directory holds no pg_control.
 */
export async function systemIdentifierOf(dataDir: string): Promise<string | undefined> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(join(dataDir, 'global', 'pg_control'), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await file.read(head, 0, 8, 0);
    if (bytesRead < 8) return undefined;
    const id = isLittleEndian() ? head.readBigUInt64LE(0) : head.readBigUInt64BE(0);
    return id.toString();
  } finally {
    await file.close();
  }
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** The recipe's `walSpool`: where the agent fills the spool, and whose WAL goes in it. */
export async function walSpoolOf(dataDir: string): Promise<WalSpool> {
  return { dir: spoolDirOf(dataDir), systemIdentifier: await systemIdentifierOf(dataDir) };
}

/** How long the restore command waits for its agent's answer (ms); past it, recovery tries streaming again. */
export const SPOOL_WAIT_MS = 30_000;
/** An ask the agent has not taken in this long means no agent runs: the command gives up early. */
export const SPOOL_UNTAKEN_MS = 2_000;
const POLL_MS = 50;

/**
 * The restore_command of a fallback whose agent keeps `spoolDir` filled (docs/wal.md
 * "Fallbacks"): shell only, no process started per segment beyond sh, mv and sleep.
 *
 * A segment asked for by recovery (`%p` is pg_wal/RECOVERYXLOG) is moved into pg_wal
 * under its own name, and the command exits 1 ("not in the archive"): recovery then
 * reads it from pg_wal as it reads its own files. Given through `%p` instead, the
 * server would fsync each restored 16 MiB segment before replaying it (it keeps
 * restored files with a durable rename): on this machine's disk that alone cost more
 * than replaying it. Nothing is lost by skipping that fsync: a segment lost in a crash
 * is in the archive and asked for again (recovery checks every page and record it reads).
 * The server's log says so for each segment, as it does for those it restores itself.
 * Any other caller (pg_rewind, a `%p` elsewhere) gets the file at `%p`; history files
 * are copied there (asked again and again).
 *
 * On a miss it writes the wanted name to `want` (written aside and renamed, so the
 * agent never reads half a name) and polls for the file or the agent's
 * `absent.<name>`; it exits 1 (not found) on that answer, when nobody took the ask,
 * or after SPOOL_WAIT_MS.
 */
export function spoolRestoreCommand(spoolDir: string): string {
  const rounds = Math.ceil(SPOOL_WAIT_MS / POLL_MS);
  const untaken = Math.ceil(SPOOL_UNTAKEN_MS / POLL_MS);
  return [
    `d=${shellQuote(spoolDir)}; f='%f'; p='%p'`,
    // Taken after asking (it landed from a fetch ahead), the ask is withdrawn: the agent would fetch it again.
    'take() { [ -f "$d/$f" ] || return 0; case $f in *.history) cp "$d/$f" "$p"; r=$?;; *) case $p in *RECOVERYXLOG) mv -f "$d/$f" "$d/../$f" && echo "pullback: segment \\"$f\\" from the archive, put in pg_wal" >&2; r=1;; *) mv -f "$d/$f" "$p"; r=$?;; esac;; esac; [ -z "$asked" ] || rm -f "$d/want"; exit $r; }',
    'asked=',
    'take',
    'rm -f "$d/absent.$f"',
    'echo "$f" > "$d/.want.$$" && mv -f "$d/.want.$$" "$d/want" || exit 1',
    'asked=1',
    'i=0',
    `while [ $i -lt ${rounds} ]; do take; if [ -f "$d/absent.$f" ]; then rm -f "$d/absent.$f"; exit 1; fi; if [ $i -ge ${untaken} ] && [ -f "$d/want" ]; then exit 1; fi; sleep ${POLL_MS / 1000}; i=$((i+1)); done`,
    'exit 1',
  ].join('; ');
}

/** `value` in single quotes for sh; PostgreSQL's own `%` escapes doubled. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`;
}
