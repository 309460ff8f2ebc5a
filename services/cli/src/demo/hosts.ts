import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Sandbox } from './sandbox.js';

/** The CLI's entry point, run as its own process for each host of the sandbox. */
const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/** A `pullback up` running as its own process, as on a host of its own. */
export interface HostProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<void>;
}

/**
 * The sandbox's machines as separate processes (docs/election.md "Health endpoints"): one
 * `pullback up --instance NAME` per instance, next to its PostgreSQL, and the pull
 * side, `pullback up --roles pull-backup,election`. Killing one is a host's death.
 */
export interface SandboxHosts {
  /** Starts the instance's agent and waits until its health endpoint answers. */
  startAgent(instance: string): Promise<HostProcess>;
  /** Starts the pull side (pull-backup workers, WAL receivers, election worker). */
  startPullSide(): Promise<HostProcess>;
  /**
   * The instance's host dies: its agent and its PostgreSQL (postmaster and children)
   * SIGKILLed together. Resolves with the moment the signals were sent (ms since the epoch).
   */
  killHost(instance: string): Promise<number>;
  /** The instance's agent alone exits cleanly (SIGTERM); its server is left as it is. */
  stopAgent(instance: string): Promise<void>;
  /** The `pullback up` processes running now. */
  processes(): HostProcess[];
  /** Every process still running, stopped (SIGTERM, then SIGKILL after 15 s). */
  stop(): Promise<void>;
}

export function sandboxHosts(sandbox: Sandbox): SandboxHosts {
  const running = new Map<string, { process: ChildProcess; host: HostProcess }>();
  const logDir = join(sandbox.dir, 'logs');

  const start = async (name: string, args: string[]): Promise<HostProcess> => {
    if (running.has(name)) throw new Error(`${name} runs already`);
    await mkdir(logDir, { recursive: true });
    const logFile = join(logDir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    await once(log, 'open');
    const child = spawn(process.execPath, [MAIN, 'up', '--config', sandbox.configPath, ...args], {
      env: { ...process.env, ...sandbox.env, PULLBACK_PG_SOCKET_DIR: sandbox.socketDir },
      stdio: ['ignore', log, log],
    });
    const exited = once(child, 'exit').then(() => {
      running.delete(name);
      log.end();
    });
    if (child.pid === undefined) throw new Error(`${name}: pullback up did not start`);
    const host = { name, pid: child.pid, logFile, exited };
    running.set(name, { process: child, host });
    return host;
  };

  const instance = (name: string) => {
    const found = sandbox.config.components[sandboxComponent(sandbox)]?.instances.find(
      (candidate) => candidate.name === name,
    );
    if (found === undefined) throw new Error(`no instance ${name} in the sandbox`);
    return found;
  };

  const stopOne = async (name: string) => {
    const entry = running.get(name);
    if (entry === undefined) return;
    entry.process.kill('SIGTERM');
    const timer = setTimeout(() => entry.process.kill('SIGKILL'), 15_000);
    await entry.host.exited;
    clearTimeout(timer);
  };

  return {
    startAgent: async (name) => {
      const { agent } = instance(name);
      if (agent === undefined) throw new Error(`instance ${name} has no agent in the sandbox's config`);
      const host = await start(name, ['--instance', name]);
      await waitUntil(`the agent of ${name} answering /health`, host, async () => {
        const answer = await fetch(`http://${agent.host ?? '127.0.0.1'}:${agent.port}/health`, {
          signal: AbortSignal.timeout(2000),
        });
        await answer.body?.cancel();
        return true;
      });
      return host;
    },
    startPullSide: () => start('pull-side', ['--roles', 'pull-backup,election']),
    killHost: async (name) => {
      const postmaster = await postmasterPid(instance(name).dataDir);
      const agent = running.get(name);
      // The agent and the server together, before either can notice the other's death.
      const victims = postmaster === undefined ? [] : [postmaster, ...(await childrenOf(postmaster))];
      if (agent !== undefined) victims.unshift(agent.host.pid);
      const killedAt = Date.now();
      for (const pid of victims) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      await agent?.host.exited;
      return killedAt;
    },
    stopAgent: stopOne,
    processes: () => [...running.values()].map((entry) => entry.host),
    stop: async () => {
      await Promise.all([...running.keys()].map(stopOne));
    },
  };
}

/** The sandbox's one component. */
function sandboxComponent(sandbox: Sandbox): string {
  const [name] = Object.keys(sandbox.config.components);
  if (name === undefined) throw new Error('the sandbox has no component');
  return name;
}

async function waitUntil(what: string, host: HostProcess, check: () => Promise<boolean>): Promise<void> {
  let exited = false;
  void host.exited.then(() => {
    exited = true;
  });
  for (const deadline = Date.now() + 120_000; ; await sleep(100)) {
    if (exited) {
      // The sandbox (and the log in it) is removed when the demo fails: its end goes in the error.
      const tail = await lastLines(host.logFile, 5);
      throw new Error(
        `${host.name} exited before ${what}; see ${host.logFile}${tail ? `, which ends: ${tail}` : ''}`,
      );
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; see ${host.logFile}`);
  }
}

/** The last `count` non-empty lines of `file`, joined by " | " ('' when it cannot be read). */
async function lastLines(file: string, count: number): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join(' | ');
}

/** The postmaster of `dataDir` from its postmaster.pid, when one is there. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The processes whose parent is `pid` (a postmaster's backends), from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // The fields after the command name (which may hold spaces) start with state, then ppid.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent === pid) children.push(Number(entry));
  }
  return children;
}
