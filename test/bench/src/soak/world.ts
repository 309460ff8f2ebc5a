import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type DrillWriter,
  type HostEndpoint,
  SANDBOX_COMPONENT,
  type Sandbox,
  type SandboxHosts,
  waitStreaming,
} from '@pullback/cli/demo';
import type { ComponentRecord, Registry } from '@pullback/pipeline';

export const REPO = join(import.meta.dirname, '..', '..', '..', '..');
const MAIN = join(REPO, 'services', 'cli', 'dist', 'main.js');

/** What every fault of the soak acts on: the demo's sandbox with its hosts, a client writing through the multi-host string. */
export interface SoakWorld {
  readonly box: Sandbox;
  readonly hosts: SandboxHosts;
  readonly registry: Registry;
  readonly endpoints: readonly HostEndpoint[];
  readonly writer: DrillWriter;
  /** The second election worker (`pullback up --roles election`), besides the pull side's. */
  readonly secondElection: SoakProcess;
  /** The component's record; throws when the registry has none. */
  component(): Promise<ComponentRecord>;
  /** The registry's active; throws when it names none. */
  active(): Promise<string>;
  port(name: string): number;
  /** `pullback ARGS` against the sandbox, as a user runs it: its exit code and output. */
  pullback(args: readonly string[], timeoutMs: number): Promise<{ code: number; output: string }>;
  step(line: string): void;
}

/** A `pullback` process of the soak's own, its output in the sandbox's logs. */
export interface SoakProcess {
  readonly pid: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

/**
 * `pullback up --roles election` as a second pull-side host runs it: the lease
 * "taken over by another when it lapses" needs another election worker to take it.
 */
export async function startSecondElection(box: Sandbox): Promise<SoakProcess> {
  const logFile = join(box.dir, 'logs', 'election-2.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  await once(log, 'open');
  const child: ChildProcess = spawn(
    process.execPath,
    [MAIN, 'up', '--config', box.configPath, '--roles', 'election'],
    {
      env: { ...process.env, ...box.env, PULLBACK_PG_SOCKET_DIR: box.socketDir },
      stdio: ['ignore', log, log],
    },
  );
  const exited = once(child, 'exit').then(() => log.end());
  if (child.pid === undefined) throw new Error('pullback up --roles election did not start');
  return {
    pid: child.pid,
    logFile,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // A stopped process takes no SIGTERM until continued.
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function soakWorld(parts: Omit<SoakWorld, 'component' | 'active' | 'port' | 'pullback'>): SoakWorld {
  const component = async () => {
    const record = await parts.registry.component(SANDBOX_COMPONENT);
    if (record === undefined) throw new Error(`the registry has no component ${SANDBOX_COMPONENT}`);
    return record;
  };
  return {
    ...parts,
    component,
    active: async () => {
      const active = (await component()).active;
      if (active === undefined) throw new Error(`the registry names no active of ${SANDBOX_COMPONENT}`);
      return active;
    },
    port: (name) => {
      const endpoint = parts.endpoints.find((candidate) => candidate.name === name);
      if (endpoint === undefined) throw new Error(`no instance ${name}`);
      return endpoint.port;
    },
    pullback: (args, timeoutMs) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [join(REPO, 'bin', 'pullback.js'), ...args, '--config', parts.box.configPath],
          { env: { ...process.env, ...parts.box.env }, timeout: timeoutMs },
          (error, stdout, stderr) => {
            const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
            resolve({ code, output: `${stdout}${stderr}`.trim() });
          },
        );
      }),
  };
}

/** Polls `check` every 100 ms until it gives a value; throws naming `what` after `timeoutMs`. */
export async function untilValue<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(100)) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/** The postmaster's process id of `name`'s data directory, from its postmaster.pid. */
export async function postmasterOf(w: SoakWorld, name: string): Promise<number> {
  const instance = w.box.config.components[SANDBOX_COMPONENT]?.instances.find(
    (candidate) => candidate.name === name,
  );
  if (instance?.dataDir === undefined) throw new Error(`no data directory for ${name}`);
  const text = await readFile(join(instance.dataDir, 'postmaster.pid'), 'utf8');
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster running for ${name}`);
  return pid;
}

/**
 * The round's end: every agent running (an old host's started again), every instance
 * but the active a streaming fallback (the old active rewound), and every fallback
 * reported healthy in the registry, so the next fault starts from a whole component.
 */
export async function recover(w: SoakWorld): Promise<void> {
  const running = new Set(w.hosts.processes().map((process) => process.name));
  for (const endpoint of w.endpoints) {
    if (!running.has(endpoint.name)) await w.hosts.startAgent(endpoint.name);
  }
  const active = await untilValue('a named active', 60_000, () => w.active());
  for (const endpoint of w.endpoints) {
    if (endpoint.name !== active) await waitStreaming(w.box, endpoint.port, 120_000);
  }
  await untilValue('every fallback healthy', 300_000, async () => {
    const current = await w.active();
    for (const endpoint of w.endpoints) {
      if (endpoint.name === current) continue;
      if ((await w.registry.instance(endpoint.name))?.state?.healthy !== true) return undefined;
    }
    return true;
  });
}
