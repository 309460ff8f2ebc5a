import { spawn } from 'node:child_process';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** A scrape, parsed whole by a Prometheus text-format parser, looked up by name and labels. */
export interface Scrape {
  readonly text: string;
  readonly names: ReadonlySet<string>;
  /** The value of the one sample of `name` whose labels include `labels`; undefined when none. */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  /** A histogram's count and sum for `labels`. */
  histogram(
    name: string,
    labels?: Readonly<Record<string, string>>,
  ): { count: number; sum: number } | undefined;
}

export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  if (!response.headers.get('content-type')?.startsWith('text/plain; version=0.0.4')) {
    throw new Error(`${url}: content-type ${response.headers.get('content-type')}`);
  }
  return parseScrape(await response.text());
}

export function parseScrape(text: string): Scrape {
  const families = parsePrometheusTextFormat(text);
  const histograms = new Set(
    families.filter((family) => family.type === 'HISTOGRAM').map((family) => family.name),
  );
  // The parser keeps no labels, count or sum of a histogram with labels: its series are
  // read again as plain ones (the histograms' HELP and TYPE lines left out).
  const plain = parsePrometheusTextFormat(
    text
      .split('\n')
      .filter((line) => !(line.startsWith('# ') && histograms.has(line.split(' ')[2] ?? '')))
      .join('\n'),
  );
  const samples = plain.flatMap((family) =>
    family.metrics.map((sample) => ({ name: family.name, labels: sample.labels ?? {}, value: sample.value })),
  );
  const value = (name: string, labels: Readonly<Record<string, string>> = {}) => {
    const found = samples.filter(
      (sample) =>
        sample.name === name &&
        Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted),
    );
    if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
    return found[0]?.value === undefined ? undefined : Number(found[0].value);
  };
  return {
    text,
    names: new Set(families.map((family) => family.name)),
    value,
    histogram: (name, labels = {}) => {
      const count = value(`${name}_count`, labels);
      const sum = value(`${name}_sum`, labels);
      return count === undefined || sum === undefined ? undefined : { count, sum };
    },
  };
}

/**
 * Prometheus's own parser and linter on the text (`promtool check metrics`, Debian's
 * `prometheus` package, which scripts/setup.sh installs): the problems it reports, none when clean.
 */
export async function promtoolProblems(text: string): Promise<string> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  child.stdin.end(text);
  const code = await exited;
  if (code === 0) return '';
  const problems = output
    .split('\n')
    .filter((line) => line.trim() !== '' && !PROM_CLIENT_OWN.test(line))
    .join('\n');
  // promtool exits 3 for lint problems alone, 1 when it cannot parse the text.
  return code === 3 ? problems : problems || `promtool exited ${code}`;
}

/**
 * prom-client's default metrics name three gauges `_total` (node's active handles,
 * requests, resources); the lint says so. Not ours to rename, so not counted.
 */
const PROM_CLIENT_OWN =
  /^pullback_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
