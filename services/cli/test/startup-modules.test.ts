import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli } from './run-cli.js';

/**
 * The archive commands start fast: they must not load what only the pipeline needs
 * (BullMQ and Redis) nor the config loader (YAML parser, schema, cron) when no config
 * is read. A key resolver imported from the config's index once added 50 % to
 * `snapshots` (0.33 -> 0.48 s) and `backup files` loaded BullMQ for a tag helper.
 * A module-resolution hook records every package a run loads.
 */
const PIPELINE_ONLY = ['bullmq', 'ioredis', 'zod', 'yaml', 'cron-parser', 'luxon'];

const BUNDLE = pathToFileURL(MAIN).href.replace(/main\.js$/, '');
/** Strings that only the named package's code holds, to find it inside the bundle's chunks. */
const BUNDLED_MARKS: Record<string, string> = {
  'services/archive': 'Buffer.from("PBIX")',
  zod: '"ZodError"',
  yaml: 'YAMLParseError',
  'cron-parser': 'CronExpressionParser',
  luxon: 'Invalid DateTime',
};

describe('what an archive command loads', () => {
  let work: string;
  let hook: string;
  const archive = () => join(work, 'archive');
  const key = () => join(work, 'key');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pullback-cli-startup-'));
    await writeFile(
      join(work, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.PULLBACK_TEST_MODULE_LOG, result.url + '\\n');
  return result;
}
`,
    );
    hook = join(work, 'register.mjs');
    await writeFile(
      hook,
      `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${join(work, 'hooks.mjs')}`)});\n`,
    );
    await mkdir(join(work, 'tree'));
    await writeFile(join(work, 'tree', 'file'), 'hello\n');
    expect((await runCli(['archive', 'init', '--archive', archive(), '--key-file', key()])).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /**
   * The packages a run loads: `name` from node_modules, `services/<name>` for a
   * workspace. The CLI runs bundled (scripts/bundle.mjs): a bundled package is known by
   * a string only its code holds, found in the chunks the run loaded.
   */
  async function packagesLoadedBy(name: string, args: string[]): Promise<string[]> {
    const log = join(work, `${name}.log`);
    const result = await runCli(args, {
      env: { NODE_OPTIONS: `--import ${hook}`, PULLBACK_TEST_MODULE_LOG: log },
    });
    expect(result.stderr).not.toContain('Error');
    expect(result.code).toBe(0);
    const urls = [...new Set((await readFile(log, 'utf8')).split('\n'))];
    const packageOf = (url: string) =>
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? /\/(services\/[^/]+)\/dist\//.exec(url)?.[1];
    const chunks = await Promise.all(
      urls.filter((url) => url.startsWith(BUNDLE)).map((url) => readFile(new URL(url), 'utf8')),
    );
    const bundled = Object.entries(BUNDLED_MARKS)
      .filter(([, mark]) => chunks.some((chunk) => chunk.includes(mark)))
      .map(([name]) => name);
    expect(chunks.length).toBeGreaterThan(0);
    return [...new Set([...urls.map(packageOf).filter((p) => p !== undefined), ...bundled])];
  }

  it.each([
    [
      'backup files',
      () => ['backup', 'files', join(work, 'tree'), '--archive', archive(), '--key-file', key()],
    ],
    ['snapshots', () => ['snapshots', '--archive', archive(), '--key-file', key()]],
  ])(
    '%s loads the archive, not the pipeline or the config loader',
    async (name, args) => {
      const packages = await packagesLoadedBy(name.replace(' ', '-'), args());
      expect(packages).toContain('services/archive');
      expect(packages.filter((p) => PIPELINE_ONLY.includes(p))).toEqual([]);
    },
    60_000,
  );
});

/**
 * pg asks at import whether it runs on Cloudflare Workers by constructing a fetch
 * `Response`, which loads Node's undici: 25-30 ms on every command that talks to
 * PostgreSQL. The bundle answers the question (scripts/bundle.mjs, `pgOnNode`).
 */
describe('the bundled pg', () => {
  it('loads no fetch implementation when imported', async () => {
    const dir = dirname(MAIN);
    const chunks = await Promise.all(
      (await readdir(dir))
        .filter((name) => name.endsWith('.js'))
        .map(async (name) => ({ name, code: await readFile(join(dir, name), 'utf8') })),
    );
    const pg = chunks.find(({ code }) => code.includes('Connection terminated unexpectedly'));
    expect(pg).toBeDefined();
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(pathToFileURL(join(dir, pg!.name)).href)});
console.log(JSON.stringify(process.moduleLoadList.filter((name) => name.includes('undici'))));`,
    ]);
    expect(JSON.parse(stdout)).toEqual([]);
  }, 60_000);
});
