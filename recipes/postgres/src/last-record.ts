import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pgTool } from './tools.js';

const SEGMENT = /^[0-9A-F]{24}$/;
const RECORD_LSN = /\blsn: ([0-9A-F]+\/[0-9A-F]+),/;

/**
 * The LSN of the last whole WAL record in `<dataDir>/pg_wal`: pg_waldump from the
 * newest segment back until one holds a record. Its output is read line by line and
 * only the last record's position kept. Undefined when no segment holds one.
 */
export async function lastRecordLsn(dataDir: string, binDir?: string): Promise<string | undefined> {
  const pgWal = join(dataDir, 'pg_wal');
  const segments = (await readdir(pgWal)).filter((name) => SEGMENT.test(name)).sort();
  const tool = await pgTool('pg_waldump', binDir);
  for (const segment of segments.reverse()) {
    const last = await lastRecordFrom(tool, pgWal, segment);
    if (last !== undefined) return last;
  }
  return undefined;
}

/** pg_waldump stops with an error at the end of valid WAL: that is expected, not a failure. */
async function lastRecordFrom(tool: string, pgWal: string, segment: string): Promise<string | undefined> {
  const child = spawn(tool, ['--path', pgWal, segment], { stdio: ['ignore', 'pipe', 'ignore'] });
  let last: string | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    last = RECORD_LSN.exec(line)?.[1] ?? last;
  }
  await new Promise((resolve) => child.once('close', resolve));
  return last;
}
