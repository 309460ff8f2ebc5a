import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { initArchive, openArchive } from '@pullback/archive';
import { type RedisServer, scratchDir, startRedis } from '@pullback/harness';
import { Histogram } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { openPipeline, type Pipeline, ProcessMetrics } from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

const execFileAsync = promisify(execFile);
const RULES_DIR = fileURLToPath(new URL('../../../docker/prometheus/', import.meta.url));
const RULES = join(RULES_DIR, 'pullback-alerts.yml');

let redis: RedisServer;
let pipeline: Pipeline;
let scratch: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('alert-rules')]);
  pipeline = openPipeline({ redis: redis.url, prefix: testPrefix() });
});

afterAll(async () => {
  await pipeline?.close();
  await redis?.stop();
  await scratch?.remove();
});

/** Every series name a process's metrics can show: a histogram's three, the others' own. */
async function registeredNames(): Promise<Set<string>> {
  const metrics = new ProcessMetrics();
  const archivePath = join(scratch.path, 'archive');
  await initArchive({ archive: archivePath, keyFile: join(scratch.path, 'archive.key') });
  metrics.watch(pipeline, {
    archive: await openArchive({ archive: archivePath, keyFile: join(scratch.path, 'archive.key') }),
  });
  const names = new Set<string>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    if (metric instanceof Histogram) {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    } else names.add(metric.name);
  }
  return names;
}

describe('the alert rules in docker/prometheus', () => {
  it('pass promtool check rules and their unit tests (promtool test rules)', async () => {
    const checked = await execFileAsync('promtool', ['check', 'rules', RULES]);
    expect(checked.stdout).toContain('SUCCESS: 9 rules found');
    const tested = await execFileAsync('promtool', ['test', 'rules', 'pullback-alerts.test.yml'], {
      cwd: RULES_DIR,
    });
    expect(tested.stdout).toContain('SUCCESS');
  });

  it('alert for each case the issue names, on metrics Pullback registers', async () => {
    const file = parse(await readFile(RULES, 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const rules = file.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.alert).sort()).toEqual([
      'PullbackCorruptPages',
      'PullbackFallbackBehind',
      'PullbackFallbackUnhealthy',
      'PullbackNoNewSnapshot',
      'PullbackRegistryUnreachable',
      'PullbackSnapshotFailedToStart',
      'PullbackVerifyErrors',
      'PullbackWalGap',
      'PullbackWalReceiverDown',
    ]);
    const registered = await registeredNames();
    // A misspelt name would make its alert never fire, silently.
    const used = new Set(rules.flatMap((rule) => rule.expr.match(/\bpullback_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !registered.has(name))).toEqual([]);
  });
});
