import { describe, type ExpectStatic, it } from 'vitest';
import { runCli } from './run-cli.js';

/** One line, `pullback: …`, and no stack trace. */
function expectOneLine(expect: ExpectStatic, errorLines: readonly string[], pattern: RegExp): void {
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(/^pullback: /);
  expect(errorLines[0]).toMatch(pattern);
}

describe.concurrent('command-line mistakes: one line, exit 2', () => {
  it.for<[string[], RegExp]>([
    [['stats'], /unknown command 'stats' \(did you mean status\?\) \(see "pullback --help"\)$/],
    [['status', '--bogus'], /unknown option '--bogus' \(see "pullback status --help"\)$/],
    [['status', 'extra'], /too many arguments/],
    [['backup'], /missing required argument 'component'/],
    [['backup', 'files'], /missing required argument 'PATH' \(see "pullback backup files --help"\)$/],
    [['restore', 'latest'], /required option '--target <DIR>' not specified/],
    [['restore', 'latest', '--target', '/t', '--start'], /--start needs --port N/],
    [['restore', 'latest', '--target', '/t', '--port', '5432'], /--port is only used with --start/],
    [
      ['restore', 'latest', '--target', '/t', '--start', '--port', '5432x'],
      /--port <N>: expected a TCP port number \(1-65535\), got '5432x'/,
    ],
    [
      ['restore', 'latest', '--target', '/t', '--at', '2025-06-01 12:00'],
      /--at <TIME>: expected a time with a zone/,
    ],
    [
      ['restore', 'latest', '--target', '/t', '--at', '2025-06-01T12:00:00Z'],
      /a point-in-time restore needs --component C/,
    ],
    [
      [
        'restore',
        '--component',
        'shop',
        '--target',
        '/t',
        '--at',
        '2025-06-01T12:00:00Z',
        '--lsn',
        '0/3000000',
      ],
      /give one of --at, --lsn, --name and --xid/,
    ],
    [
      ['restore', '--component', 'shop', '--target', '/t', '--lsn', '3000000'],
      /--lsn <LSN>: expected an LSN/,
    ],
    [
      ['restore', '--component', 'shop', '--target', '/t', '--xid', 'abc'],
      /--xid <XID>: expected a transaction id/,
    ],
    [['restore', '--target', '/t'], /give a snapshot id or "latest", or a point in time/],
    [['restore', 'latest', '--target', '/t', '--promote'], /--promote is only used with a point in time/],
    [['forget', '--keep-daily', '-1'], /--keep-daily <N>: expected a whole number/],
    [['forget', '--keep-within', '7days'], /--keep-within <DURATION>: expected a duration like "7d"/],
    [
      ['snapshots', '--archive', 'ftp://host/x'],
      /--archive <URL>: expected a path, file:\/\/\/path or s3:\/\/bucket\/prefix, got "ftp:\/\/host\/x"/,
    ],
    [['export', 'shop'], /required option '--now' not specified/],
    [['import', 'shop-b'], /required option '--activate' not specified/],
  ])('pullback %j', async ([args, pattern], { expect }) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expectOneLine(expect, result.errorLines, pattern);
  });

  it('a group without its subcommand shows the group help on stderr', async ({ expect }) => {
    const result = await runCli(['archive']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^Usage: pullback archive /);
    expect(result.stderr).toMatch(/^ {2}init /m);
  });
});

describe.concurrent('a failure of a command: one line, exit 1', () => {
  it.for<[string[], RegExp]>([
    [
      ['import', 'shop-b', '--activate', '--force'],
      /^pullback: pullback\.yaml: no such file \(pass --config FILE/,
    ],
  ])('pullback %j', async ([args, pattern], { expect }) => {
    const result = await runCli(args);
    expect(result.code).toBe(1);
    expectOneLine(expect, result.errorLines, pattern);
  });

  it('PULLBACK_DEBUG=1 adds the stack trace', async ({ expect }) => {
    const args = ['import', 'shop-b', '--activate'];
    const quiet = await runCli(args);
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    const debug = await runCli(args, { env: { PULLBACK_DEBUG: '1' } });
    expect(debug.code).toBe(1);
    expect(debug.errorLines[0]).toMatch(/^pullback: pullback\.yaml: no such file/);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
