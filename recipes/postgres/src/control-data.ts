import { runTool } from './run-tool.js';
import { pgTool } from './tools.js';

/** What pg_control says of a data directory whose server is not running. */
export interface ControlData {
  /** `Database cluster state`: `shut down` after a clean shutdown of a primary, `in production` after a crash. */
  readonly state: string;
  /** `Latest checkpoint location`: after a clean shutdown, the shutdown checkpoint, the last WAL record. */
  readonly checkpointLsn: string;
  /** `Latest checkpoint's TimeLineID`. */
  readonly timeline: number;
}

/** The state pg_control records after a clean shutdown of a server that was not in recovery. */
export const CLEANLY_SHUT_DOWN = 'shut down';

/**
 * Reads `dataDir`'s pg_control with pg_controldata (in the C locale: its labels are
 * translated otherwise). Exact for a stopped server: a running one keeps changing it.
 * Run as this process, not through runuser: it only reads, root may, and a switchover
 * waits on it.
 */
export async function controlData(dataDir: string, options: { binDir?: string } = {}): Promise<ControlData> {
  const output = await runTool(
    `pg_controldata of ${dataDir}`,
    [await pgTool('pg_controldata', options.binDir), dataDir],
    { env: { LC_ALL: 'C', LANG: 'C' } },
  );
  const field = (label: string) => {
    const line = output.split('\n').find((l) => l.startsWith(`${label}:`));
    if (line === undefined) throw new Error(`pg_controldata of ${dataDir} printed no "${label}"`);
    return line.slice(label.length + 1).trim();
  };
  return {
    state: field('Database cluster state'),
    checkpointLsn: field('Latest checkpoint location'),
    timeline: Number(field("Latest checkpoint's TimeLineID")),
  };
}
