import { PassThrough } from 'node:stream';
import { compareLsn, walChain } from '@pullback/archive';
import { restoreToPoint } from '../actions/restore-to-point.js';
import type { CommandContext } from '../context.js';
import { SANDBOX_COMPONENT, type Sandbox } from './sandbox.js';

/** How long the demo waits for the receiver to store a commit (it stores about every 300 ms). */
const ARCHIVED_WITHIN_MS = 60_000;

/**
 * The demo's point-in-time restore: two rows with a moment between them, both in the
 * archive through the WAL receiver (no export), then `restore --at` the moment into
 * `target`, started on `port`. Returns the lines the command printed.
 */
export async function restoreBetweenRows(
  box: Sandbox,
  rows: { readonly before: string; readonly after: string },
  target: { readonly dir: string; readonly port: number },
  context: CommandContext,
): Promise<{ moment: string; printed: string[] }> {
  // The active's clock in milliseconds: the time recovery_target_time is compared with.
  const clock = async () =>
    Number(await box.active.psql('select (extract(epoch from clock_timestamp()) * 1000)::bigint'));
  await box.active.psql(`insert into marker (note) values ('${rows.before}')`);
  const moment = new Date((await clock()) + 1).toISOString();
  // The second row's commit must come after the moment on the active's clock.
  while ((await clock()) <= Date.parse(moment) + 1) await new Promise((resolve) => setTimeout(resolve, 5));
  await box.active.psql(`insert into marker (note) values ('${rows.after}')`);
  await archived(box, await box.active.psql('select pg_current_wal_lsn()'), context.signal);

  const printed: string[] = [];
  const stdout = new PassThrough();
  stdout.on('data', (chunk: Buffer) => printed.push(...chunk.toString('utf8').trimEnd().split('\n')));
  box.adopt(target.dir);
  await restoreToPoint(
    box.archive,
    {
      component: SANDBOX_COMPONENT,
      target: target.dir,
      recoveryTarget: { kind: 'time', time: moment },
      delta: false,
      promote: false,
      port: target.port,
    },
    { ...context, stdout },
  );
  return { moment, printed };
}

/** Waits until the archive's WAL of the sandbox's active reaches `lsn`. */
async function archived(box: Sandbox, lsn: string, signal: AbortSignal): Promise<void> {
  const systemIdentifier = await box.active.psql('select system_identifier from pg_control_system()');
  const stream = `${SANDBOX_COMPONENT}.${systemIdentifier}`;
  const deadline = Date.now() + ARCHIVED_WITHIN_MS;
  for (;;) {
    signal.throwIfAborted();
    const end = (await walChain(box.archive, stream, { signal })).end;
    if (end !== undefined && compareLsn(end.lsn, lsn) >= 0) return;
    if (Date.now() > deadline) throw new Error(`the archive's WAL did not reach ${lsn} within a minute`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
