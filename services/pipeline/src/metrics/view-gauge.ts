import { Counter, Gauge, type Registry } from 'prom-client';

/** One sample: its labels and value. */
export type Sample = readonly [Readonly<Record<string, string>>, number];

/**
 * A gauge whose samples are computed at scrape time from a view (`read`), none
 * when the view cannot be had (the scrape says so through another gauge).
 */
export function viewGauge<V>(
  registry: Registry,
  read: () => Promise<V | undefined>,
  name: string,
  help: string,
  labelNames: readonly string[],
  samples: (view: V) => Iterable<Sample>,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      const view = await read();
      if (view === undefined) return;
      for (const [labels, value] of samples(view)) this.set(labels, value);
    },
  });
}

/** As `viewGauge`, a counter kept elsewhere (Redis), read at scrape time. */
export function viewCounter<V>(
  registry: Registry,
  read: () => Promise<V | undefined>,
  name: string,
  help: string,
  labelNames: readonly string[],
  samples: (view: V) => Iterable<Sample>,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      const view = await read();
      if (view === undefined) return;
      for (const [labels, value] of samples(view)) this.inc(labels, value);
    },
  });
}
