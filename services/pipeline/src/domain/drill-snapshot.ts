import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Archive, recordProof } from '@pullback/archive';
import { isAccessDenied } from '@pullback/storage';
import type { Recipe } from '../recipe.js';
import type { Registry } from '../registry/registry.js';
import { restoreWithTablespaces } from '../tablespaces/restore-with-tablespaces.js';
import { tablespacesUnder } from '../tablespaces/tablespace-locations.js';
import { messageOf } from './errors.js';
import type { SnapshotDescription } from './snapshot-description.js';

export interface DrillSnapshotInput {
  readonly component: string;
  /** The fallback whose agent runs the drill, for the record. */
  readonly instance: string;
  readonly snapshotId: string;
  readonly snapshot: SnapshotDescription;
  readonly archive: Archive;
  readonly recipe: Recipe;
  readonly registry: Registry;
  /** Where the scratch directory goes (next to the fallback's data directory, as a rule). */
  readonly scratchDir: string;
  /** How long the claim holds while the drill runs, in ms. Default: one hour. */
  readonly claimTtlMs?: number;
  readonly signal?: AbortSignal;
}

export type DrillResult =
  | { readonly ran: false; readonly reason: 'claimed' | 'no-audit' }
  | { readonly ran: true; readonly ok: boolean; readonly reason?: string };

/** Who drills: this agent, for the fallback it serves. */
export function drillHolder(instance: string): string {
  return `${hostname()}:${process.pid} for ${instance}`;
}

/**
 * The restore drill of a snapshot (docs/wal.md "Fallbacks"): run once per snapshot,
 * by the first agent to claim it. The snapshot is restored into a scratch directory,
 * started read-only by the recipe (`startAudit`, which checks it answers and refuses
 * writes; postgres also checks the files against the backup's manifest and waits for
 * a consistent point), stopped and removed. The verdict goes to the registry
 * (`markSnapshot`) and to the archive (`recordProof`), and the claim is made final.
 * An aborted drill records nothing: its claim lapses and another agent may run it.
 */
export async function drillSnapshot(input: DrillSnapshotInput): Promise<DrillResult> {
  const { recipe, registry, snapshotId, signal } = input;
  if (recipe.startAudit === undefined) return { ran: false, reason: 'no-audit' };
  const holder = drillHolder(input.instance);
  if (!(await registry.claimDrill(snapshotId, holder, input.claimTtlMs ?? 3_600_000))) {
    return { ran: false, reason: 'claimed' };
  }
  const dir = join(input.scratchDir, `pullback-drill-${snapshotId.slice(0, 12)}`);
  const tablespaces = `${dir}-tablespaces`;
  let failure: string | undefined;
  try {
    await rm(dir, { recursive: true, force: true });
    await rm(tablespaces, { recursive: true, force: true });
    const server = await recipe.startAudit({
      snapshotId,
      snapshot: input.snapshot,
      target: dir,
      port: await freeLocalPort(),
      restore: async (directory) => {
        // Tablespaces in scratch too: their own locations may be in use on this host.
        await restoreWithTablespaces(input.archive, snapshotId, {
          target: directory,
          tablespaceMap: tablespacesUnder(input.snapshot.tablespaces ?? {}, tablespaces),
          ...(signal === undefined ? {} : { signal }),
        });
      },
      ...(signal === undefined ? {} : { signal }),
    });
    await server.stop();
  } catch (error) {
    if (signal?.aborted) throw error;
    failure = `restore drill: ${messageOf(error)}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(tablespaces, { recursive: true, force: true });
  }
  const at = new Date().toISOString();
  await registry.markSnapshot(input.component, snapshotId, {
    state: failure === undefined ? 'good' : 'bad',
    instance: input.instance,
    ...(failure === undefined ? {} : { reason: failure }),
    at,
  });
  await recordSnapshotProof(input, holder, failure);
  return failure === undefined ? { ran: true, ok: true } : { ran: true, ok: false, reason: failure };
}

/**
 * Records in the archive and the registry that `snapshotId` was proven (or not) by
 * `holder`: a drill, or the start of a fallback reseeded from it. Final: no other
 * agent drills it again. An import role that may only read the archive (docs/rights.md)
 * leaves the proof in the registry alone.
 */
export async function recordSnapshotProof(
  input: Pick<DrillSnapshotInput, 'archive' | 'registry' | 'snapshotId' | 'signal'>,
  holder: string,
  failure?: string,
): Promise<void> {
  await recordProof(
    input.archive,
    input.snapshotId,
    {
      at: new Date().toISOString(),
      by: holder,
      ok: failure === undefined,
      ...(failure === undefined ? {} : { reason: failure }),
    },
    input.signal === undefined ? {} : { signal: input.signal },
  ).catch((error: unknown) => {
    if (!isAccessDenied(error)) throw error;
  });
  await input.registry.finishDrill(input.snapshotId, holder);
}

/** A TCP port free on 127.0.0.1 now, for the drill's server (its socket is in its own directory). */
function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
