import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { escapeRegExp, REPOSITORY_BIN, runCli } from './run-cli.js';

/** docs/architecture.md, "Command line", plus `config check`: each command and the options it must offer. */
const CONTRACT: ReadonlyArray<{ command: string; listed: RegExp; options: readonly string[] }> = [
  {
    command: 'archive init',
    listed: /^ {2}archive init /m,
    options: ['--archive <URL>', '--key-file <FILE>', '--config <FILE>'],
  },
  {
    command: 'backup files',
    listed: /^ {2}backup files \[options\] <PATH> /m,
    options: ['--archive <URL>', '--key-file <FILE>'],
  },
  {
    command: 'backup',
    listed: /^ {2}backup \[options\] <component> /m,
    options: ['--logical', '--full', '--config <FILE>', '--archive <URL>'],
  },
  {
    command: 'snapshots',
    listed: /^ {2}snapshots /m,
    options: ['--component <C>', '--json', '--archive <URL>'],
  },
  {
    command: 'restore',
    // The snapshot became optional with point-in-time restores (which pick their base).
    listed: /^ {2}restore \[options\] \[snapshot-id\|latest\] /m,
    options: [
      '--target <DIR>',
      '--component <C>',
      '--at <TIME>',
      '--lsn <LSN>',
      '--name <RESTORE_POINT>',
      '--xid <XID>',
      '--promote',
      '--delta',
      '--tablespace-map <OLD=NEW>',
      '--start',
      '--port <N>',
      '--archive <URL>',
    ],
  },
  {
    command: 'restore-point',
    listed: /^ {2}restore-point \[options\] <component> <name> /m,
    options: ['--config <FILE>'],
  },
  {
    command: 'verify',
    listed: /^ {2}verify /m,
    options: ['--read-data', '--repair', '--json', '--archive <URL>'],
  },
  {
    command: 'repair index',
    listed: /^ {2}repair index /m,
    options: ['--archive <URL>', '--key-file <FILE>'],
  },
  {
    command: 'forget',
    listed: /^ {2}forget /m,
    options: [
      '--keep-last <N>',
      '--keep-hourly <N>',
      '--keep-daily <N>',
      '--keep-weekly <N>',
      '--keep-monthly <N>',
      '--keep-within <DURATION>',
      '--prune',
    ],
  },
  { command: 'up', listed: /^ {2}up /m, options: ['--config <FILE>', '--roles <LIST>', '--instance <NAME>'] },
  {
    command: 'export',
    listed: /^ {2}export \[options\] <component> /m,
    options: ['--now', '--logical', '--full'],
  },
  { command: 'import', listed: /^ {2}import \[options\] <instance> /m, options: ['--activate', '--force'] },
  {
    command: 'switchover',
    listed: /^ {2}switchover \[options\] <component> /m,
    options: ['--to <NAME>', '--config <FILE>'],
  },
  {
    command: 'status',
    listed: /^ {2}status /m,
    options: ['--json', '--watch', '--interval <S>', '--config <FILE>'],
  },
  {
    command: 'dashboard',
    listed: /^ {2}dashboard /m,
    options: ['--port <N>', '--host <H>', '--interval <S>', '--config <FILE>', '--archive <URL>'],
  },
  { command: 'demo', listed: /^ {2}demo /m, options: [] },
  { command: 'config check', listed: /^ {2}config check \[FILE\] /m, options: [] },
];

describe('pullback --help', () => {
  it('lists every command of the contract', async () => {
    const { code, stdout, stderr } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: pullback /);
    for (const { listed } of CONTRACT) expect(stdout).toMatch(listed);
    expect(stdout).toContain('PULLBACK_CONFIG');
  });

  it.concurrent.for(CONTRACT)(
    'pullback $command --help describes the command and its options',
    async ({ command, options }, { expect }) => {
      const { code, stdout, stderr } = await runCli([...command.split(' '), '--help']);
      expect(code).toBe(0);
      expect(stderr).toBe('');
      expect(stdout).toMatch(new RegExp(`^Usage: pullback ${command} `));
      for (const option of options) {
        // Each option is listed with a description after it.
        expect(stdout).toMatch(new RegExp(`^ {2}${escapeRegExp(option)} +\\S`, 'm'));
      }
    },
  );

  it('help COMMAND is the same as COMMAND --help', async () => {
    const viaHelp = await runCli(['help', 'restore']);
    const viaOption = await runCli(['restore', '--help']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaOption.stdout);
  });
});

describe('--logical with --full', () => {
  it('is refused with one line by backup and export: a logical export reads everything anyway', async () => {
    for (const args of [
      ['backup', 'shop', '--logical', '--full'],
      ['export', 'shop', '--now', '--full', '--logical'],
    ]) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.errorLines).toHaveLength(1);
      expect(result.errorLines[0]).toMatch(
        /^pullback: option '--full' cannot be used with option '--logical'/,
      );
    }
  });
});

describe('pullback --version', () => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };

  it("prints the CLI package's version", async () => {
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it("runs the same through the repository's bin/pullback.js", async () => {
    const result = await runCli(['--version'], { script: REPOSITORY_BIN });
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});
