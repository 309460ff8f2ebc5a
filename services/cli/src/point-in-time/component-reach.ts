import { type Archive, listSnapshots, walStreamName } from '@pullback/archive';
import { describeSnapshot } from '@pullback/pipeline/snapshot-description';
import { ArchivedWal, type WalPoint } from './archived-wal.js';
import { type PhysicalBase, type Reach, reachOf } from './reach.js';

/** A component's physical snapshots, oldest first: the bases replay can start from. */
export async function physicalBases(
  archive: Archive,
  component: string,
  signal?: AbortSignal,
): Promise<PhysicalBase[]> {
  const snapshots = await listSnapshots(archive, { component, ...(signal === undefined ? {} : { signal }) });
  const bases: PhysicalBase[] = [];
  for (const snapshot of snapshots) {
    const description = describeSnapshot(snapshot);
    if (description.kind !== 'physical' || description.server === undefined) continue;
    bases.push({ id: snapshot.id, time: snapshot.time, ...description.server });
  }
  return bases;
}

/**
 * What each base of `component` can be restored to, with the archive's WAL of its
 * server (stream `<component>.<systemIdentifier>`).
 */
export async function componentReaches(
  archive: Archive,
  component: string,
  bases: readonly PhysicalBase[],
  signal?: AbortSignal,
): Promise<{ reaches: Reach[]; end: WalPoint | undefined }> {
  const streams = new Map<string, Promise<ArchivedWal | undefined>>();
  const reaches: Reach[] = [];
  for (const base of bases) {
    const stream = walStreamName(component, base.systemIdentifier);
    let wal = streams.get(stream);
    if (wal === undefined) {
      wal = ArchivedWal.load(archive, stream, signal);
      streams.set(stream, wal);
    }
    const loaded = await wal;
    const reach = loaded === undefined ? undefined : await reachOf(base, loaded);
    if (reach !== undefined) reaches.push(reach);
  }
  // The end of the newest server's WAL: the archive's end for this component.
  let end: WalPoint | undefined;
  for (const wal of await Promise.all(streams.values())) {
    const last = wal?.bounds()?.last;
    const segment = last === undefined ? undefined : wal?.segment(last);
    if (wal === undefined || segment === undefined) continue;
    const point = await wal.endOf(segment);
    if (end === undefined || Date.parse(point.time) > Date.parse(end.time)) end = point;
  }
  return { reaches, end };
}
