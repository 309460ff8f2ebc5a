import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { placedName, TAKEN_FILE, type WalSpool } from '@pullback/pipeline/core';

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
  const recoveryStart = await recoveryStartOf(dataDir);
  return {
    dir: spoolDirOf(dataDir),
    systemIdentifier: await systemIdentifierOf(dataDir),
    ...(recoveryStart === undefined ? {} : { recoveryStart }),
  };
}

/**
 * Where recovery of a restored snapshot starts: the segment its backup_label names
 * (`START WAL LOCATION: 0/2000028 (file 000000010000000000000002)`), and the size of
 * that segment's copy in pg_wal (the server's segment size). The server renames
 * backup_label as its recovery begins: undefined then, and for a label or segment it
 * cannot read.
 */
async function recoveryStartOf(dataDir: string): Promise<WalSpool['recoveryStart']> {
  const label = await readFile(join(dataDir, 'backup_label'), 'latin1').catch(() => undefined);
  const segment =
    label === undefined ? undefined : /^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$/m.exec(label)?.[1];
  if (segment === undefined) return undefined;
  const copy = await stat(join(dataDir, 'pg_wal', segment)).catch(() => undefined);
  return copy?.isFile() === true && copy.size > 0 ? { segment, segmentSize: copy.size } : undefined;
}

/** How long the restore command waits for its agent's answer (ms); past it, recovery tries streaming again. */
export const SPOOL_WAIT_MS = 30_000;
/** An ask the agent has not taken in this long means no agent runs: the command gives up early. */
export const SPOOL_UNTAKEN_MS = 2_000;
const POLL_MS = 50;

/**
 * The restore_command of a fallback whose agent keeps `spoolDir` filled (docs/wal.md
 * "Fallbacks"): shell only, and on the path replay takes segment after segment, no
 * process beyond sh itself (a process start is the dearest thing the command does).
 *
 * Recovery asks with `%p` = pg_wal/RECOVERYXLOG. The agent places complete segments
 * in pg_wal under their own names ahead of replay, each linked as `placed.<name>` in
 * the spool: when both names are one file (test's `-ef`: a file recycled or streamed
 * there since is not), the command writes the name to `at` (how the agent follows
 * replay) and exits 1 ("not in the archive"), and recovery reads it from pg_wal as it
 * reads its own files. Given through `%p` instead, the server would fsync each
 * restored 16 MiB segment before replaying it (it keeps restored files with a durable
 * rename): on this machine's disk that alone cost more than replaying it. Nothing is
 * lost by skipping that fsync: a segment lost in a crash is in the archive and asked
 * for again (recovery checks every page and record it reads). A segment the agent left
 * in the spool itself (a partial, asked for) is moved into pg_wal the same way. The
 * server's log says so for each segment, as it does for those it restores itself.
 * Any other caller (pg_rewind, a `%p` elsewhere) gets a copy at `%p`, exit 0; history
 * files are copied there (asked again and again).
 *
 * On a miss it writes the wanted name to `want` (written aside and renamed, so the
 * agent never reads half a name) and polls for the file or the agent's
 * `absent.<name>`; it exits 1 (not found) on that answer, when nobody took the ask,
 * or after SPOOL_WAIT_MS.
 */
export function spoolRestoreCommand(spoolDir: string): string {
  const rounds = Math.ceil(SPOOL_WAIT_MS / POLL_MS);
  const untaken = Math.ceil(SPOOL_UNTAKEN_MS / POLL_MS);
  const placed = `"$d/${placedName('$f')}"`;
  return [
    `d=${shellQuote(spoolDir)}; f='%f'; p='%p'`,
    // Taken after asking (it landed from a fetch ahead), the ask is withdrawn: the agent would fetch it again.
    'take() { case $f in *.history) [ -f "$d/$f" ] || return 0; cp "$d/$f" "$p"; r=$?;; *) case $p in ' +
      `*RECOVERYXLOG) if [ ${placed} -ef "$d/../$f" ]; then echo "$f" > "$d/${TAKEN_FILE}"; elif [ -f "$d/$f" ]; then mv -f "$d/$f" "$d/../$f" || return 0; else return 0; fi; ` +
      'echo "pullback: segment \\"$f\\" from the archive, put in pg_wal" >&2; r=1;; ' +
      `*) if [ -f ${placed} ]; then [ ${placed} -ef "$p" ] || cp ${placed} "$p"; r=$?; elif [ -f "$d/$f" ]; then mv -f "$d/$f" "$p"; r=$?; else return 0; fi;; ` +
      'esac;; esac; [ -z "$asked" ] || rm -f "$d/want"; exit $r; }',
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
