import { setTimeout as sleep } from 'node:timers/promises';
import { type HostEndpoint, type Sandbox, writableNow } from '@pullback/cli/demo';

/** A stretch of consecutive samples in which one instance answered writable, on the servers' clock (ms). */
interface Stretch {
  readonly name: string;
  readonly from: number;
  to: number;
}

/**
 * Every instance's writability sampled until stopped, judged stretch by stretch: two
 * instances were writable at once when a stretch of one overlaps a stretch of the
 * other. The demo's watchWritable (services/cli/src/demo/failover.ts) judges each
 * instance's first and last writable moments as one span, which a round that makes
 * the same instance active twice (c, then b, then c again) reports as an overlap
 * though the two never took writes together. A sample that does not answer ends a
 * stretch: a server that cannot say it takes writes is not counted as taking them.
 */
export interface WritableSampler {
  stop(): Promise<{ overlaps: string[]; samples: number }>;
}

export function sampleWritable(box: Sandbox, endpoints: readonly HostEndpoint[]): WritableSampler {
  const open = new Map<string, Stretch>();
  const stretches: Stretch[] = [];
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const answers = await Promise.all(
        endpoints.map(async (endpoint) => ({
          name: endpoint.name,
          ...(await writableNow(box, endpoint.port)),
        })),
      );
      samples++;
      for (const answer of answers) {
        const stretch = open.get(answer.name);
        if (!answer.writable) {
          open.delete(answer.name);
        } else if (stretch === undefined) {
          const started = { name: answer.name, from: answer.at, to: answer.at };
          open.set(answer.name, started);
          stretches.push(started);
        } else {
          stretch.to = answer.at;
        }
      }
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      const overlaps: string[] = [];
      for (const [i, x] of stretches.entries()) {
        for (const y of stretches.slice(i + 1)) {
          if (x.name !== y.name && x.from <= y.to && y.from <= x.to) {
            overlaps.push(
              `${x.name} (${clock(x.from)}-${clock(x.to)}) and ${y.name} (${clock(y.from)}-${clock(y.to)})`,
            );
          }
        }
      }
      return { overlaps, samples };
    },
  };
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}
