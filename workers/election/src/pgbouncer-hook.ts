import { randomBytes } from 'node:crypto';
import { chown, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { PgBouncerConfig } from '@pullback/pipeline';
import pg from 'pg';
import { pgbouncerSetting, pointDatabase } from './pgbouncer-ini.js';

export interface PgBouncerHookOptions {
  /** Asked before the ini is written: false when a newer activation took over, which then points it. */
  readonly isCurrent?: () => Promise<boolean>;
  /** The admin console's connection and RELOAD time limit. Default: 5 000 ms. */
  readonly timeoutMs?: number;
}

/**
 * The PgBouncer hook (docs/election.md "Clients follow"): points `database`'s entry in
 * PgBouncer's ini at `target` and makes PgBouncer reload it, so that its next server
 * connections go to the new active. The ini is written aside and renamed (its mode and
 * owner kept), never half-written. Reloaded by RELOAD on the admin console by default:
 * that answers once PgBouncer re-read the ini, so the change is confirmed (SHOW
 * DATABASES) before this returns; `sighup` only sends the signal. Throws one line
 * starting `pgbouncer <ini>:`.
 */
export async function pointPgBouncer(
  hook: PgBouncerConfig,
  database: string,
  target: { readonly host: string; readonly port: number },
  options: PgBouncerHookOptions = {},
): Promise<void> {
  const fail = (problem: string) => new Error(`pgbouncer ${hook.ini}: ${problem}`);
  let path: string;
  let text: string;
  try {
    // A symlinked ini (/etc/pgbouncer/pgbouncer.ini -> ...) stays a symlink: its target is rewritten.
    path = await realpath(hook.ini);
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw fail(`cannot read it: ${fsProblem(error)}`);
  }
  let pointed: ReturnType<typeof pointDatabase>;
  try {
    pointed = pointDatabase(text, database, target.host, target.port);
  } catch (error) {
    throw fail((error as Error).message);
  }
  if (options.isCurrent !== undefined && !(await options.isCurrent())) {
    throw fail(`left as it is: a newer activation moved the active`);
  }
  if (pointed.text !== text) {
    await replaceFile(path, pointed.text).catch((error: unknown) => {
      throw fail(`cannot write it: ${fsProblem(error)}`);
    });
  }
  const entry = `${database} now names ${target.host}:${target.port}`;
  if (hook.reload === 'sighup') {
    await signalReload(hook.pidFile ?? pgbouncerSetting(pointed.text, 'pidfile')).catch((error: Error) => {
      throw fail(`${entry}, but it was not reloaded: ${error.message}`);
    });
    return;
  }
  const admin = {
    host: hook.admin?.host ?? '127.0.0.1',
    port: hook.admin?.port ?? Number(pgbouncerSetting(pointed.text, 'listen_port') ?? 6432),
    user: hook.admin?.user ?? 'pgbouncer',
  };
  const where = `${admin.host}:${admin.port}`;
  const named = await reloadOverAdmin(admin, database, options.timeoutMs ?? 5000).catch((error: Error) => {
    throw fail(`${entry}, but RELOAD on its admin console ${where} failed: ${oneLine(error.message)}`);
  });
  if (named !== `${target.host}:${target.port}`) {
    throw fail(`reloaded, but its admin console ${where} says ${database} names ${named ?? 'nothing'}`);
  }
}

/** RELOAD, then what SHOW DATABASES says `database` names now (`host:port`). */
async function reloadOverAdmin(
  admin: { host: string; port: number; user: string },
  database: string,
  timeoutMs: number,
): Promise<string | undefined> {
  // A client of its own: the admin console speaks only the simple protocol and refuses
  // the startup parameters recipes/postgres pools send (statement_timeout).
  const client = new pg.Client({
    ...admin,
    database: 'pgbouncer',
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('RELOAD');
    const { rows } = await client.query<{ name: string; host: string | null; port: number | string }>(
      'SHOW DATABASES',
    );
    const row = rows.find((each) => each.name === database);
    return row === undefined ? undefined : `${row.host ?? ''}:${row.port}`;
  } finally {
    await client.end().catch(() => {});
  }
}

async function signalReload(pidFile: string | undefined): Promise<void> {
  if (pidFile === undefined) throw new Error('no pidfile: set pgbouncer.pidFile, or pidfile in its ini');
  const text = await readFile(pidFile, 'utf8').catch((error: unknown) => {
    throw new Error(`cannot read its pidfile ${pidFile}: ${fsProblem(error)}`);
  });
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`its pidfile ${pidFile} holds no process id`);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ESRCH'
        ? `no process ${pid} (its pidfile ${pidFile})`
        : `cannot signal process ${pid}: ${code ?? (error as Error).message}`,
    );
  }
}

/** Written aside in the same directory, fsynced, given the old file's mode and owner, renamed over it. */
async function replaceFile(path: string, text: string): Promise<void> {
  const old = await stat(path);
  const temp = join(dirname(path), `.${basename(path)}.pullback-${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temp, 'wx', old.mode & 0o7777);
  try {
    try {
      await file.writeFile(text);
      await file.chmod(old.mode & 0o7777);
      if (process.getuid?.() === 0) await chown(temp, old.uid, old.gid);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function fsProblem(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return oneLine(message);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
