import { execFile } from 'node:child_process';
import { lchown, lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The operating-system account a server runs as, resolved to ids. */
export interface OsAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

const accounts = new Map<string, Promise<OsAccount>>();

/** True when this process may act as another account (PostgreSQL refuses to run as root). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * The account PostgreSQL runs as: `name` when we are root, else ourselves (a non-root
 * agent can only run the server as itself).
 */
export function serverAccount(name = 'postgres'): Promise<OsAccount> {
  const key = isRoot() ? name : '';
  let account = accounts.get(key);
  if (account === undefined) {
    account = isRoot()
      ? (async () => {
          const id = async (flag: string) =>
            Number((await execFileAsync('id', [flag, '--', name])).stdout.trim());
          try {
            return { name, uid: await id('-u'), gid: await id('-g') };
          } catch {
            throw new Error(`no operating-system user ${JSON.stringify(name)} to run PostgreSQL as`);
          }
        })()
      : Promise.resolve({
          name: process.env.USER ?? String(process.getuid?.()),
          uid: process.getuid?.() ?? 0,
          gid: process.getgid?.() ?? 0,
        });
    accounts.set(key, account);
    // A failed lookup is not cached: the user may be created later.
    account.catch(() => accounts.delete(key));
  }
  return account;
}

/** `argv` run as `account`: through runuser when we are root and it is someone else. */
export function asAccount(account: OsAccount, argv: readonly string[]): string[] {
  return isRoot() && account.uid !== 0 ? ['runuser', '-u', account.name, '--', ...argv] : [...argv];
}

/**
 * Gives the tree under `dir` to `account`, touching only entries owned by someone
 * else (a restore written by root) and never following symlinks.
 */
export async function chownTree(dir: string, account: OsAccount): Promise<void> {
  if (!isRoot()) return;
  const fix = async (path: string) => {
    const info = await lstat(path);
    if (info.uid !== account.uid || info.gid !== account.gid) await lchown(path, account.uid, account.gid);
    return info;
  };
  const walk = async (path: string): Promise<void> => {
    for await (const entry of await opendir(path)) {
      const child = join(path, entry.name);
      const info = await fix(child);
      if (info.isDirectory()) await walk(child);
    }
  };
  await fix(dir);
  await walk(dir);
}
