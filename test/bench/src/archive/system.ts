import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { $ } from 'zx';

const execFileAsync = promisify(execFile);

/** Argument vector that runs `argv` as the postgres user (PostgreSQL's tools refuse root). */
export function asPostgres(argv: readonly string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...argv] : [...argv];
}

export async function chownToPostgres(path: string): Promise<void> {
  if (process.getuid?.() === 0) await $`chown -R postgres:postgres ${path}`.quiet();
}

/** Bytes of file content under `path` (du's apparent size), 0 when missing. */
export async function directoryBytes(path: string): Promise<number> {
  const { stdout } = await execFileAsync('du', ['-sb', path]).catch(() => ({ stdout: '0' }));
  return Number(stdout.split(/\s/)[0]);
}

/** Installs Debian packages that are missing (pgBackRest, GNU time) for the benchmark. */
export async function ensureDebianPackages(packages: Record<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [binary, pkg] of Object.entries(packages)) {
    const found = await $({ nothrow: true, quiet: true })`sh -c ${`command -v ${binary}`}`;
    if (found.exitCode !== 0) missing.push(pkg);
  }
  if (missing.length === 0) return;
  console.error(`bench: installing ${missing.join(', ')}`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  await $`${sudo} apt-get update -qq`;
  await $({
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })`${sudo} apt-get install -y -qq ${missing}`.quiet();
}
